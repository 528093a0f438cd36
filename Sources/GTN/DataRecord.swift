import Foundation
import GTNData
import GTNIO

/// Which data set a run was trained on (`data.json` in its run directory): the directory it was
/// read from and a fingerprint of its contents, so that resuming, evaluating or searching with a
/// run uses that data by default and notices when it is given, or finds, other data.
public struct DataRecord: RunFile, Sendable, Equatable {
    public var path: String
    public var name: String
    public var counts: [Int]
    public var imageShape: [Int]
    public var classes: Int
    /// FNV-1a (64 bits) over the split sizes and the first 64 training images and labels.
    public var fingerprint: String

    public static let fileName = "data.json"
    public static let describedAs = "a data record of a run"

    public init(path: String, splits: DataSplits) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
        name = splits.name
        counts = [splits.train.count, splits.validation.count, splits.test.count]
        imageShape = splits.imageShape
        classes = splits.classes
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ v: UInt64) { for k in 0..<8 { hash = (hash ^ ((v >> (8 * k)) & 0xFF)) &* 0x100_0000_01B3 } }
        counts.forEach { mix(UInt64($0)) }
        let n = min(64, splits.train.count)
        let per = splits.imageShape.reduce(1, *)
        for v in splits.train.images.scalars.prefix(n * per) { mix(UInt64(v.bitPattern)) }
        for l in splits.train.labels.prefix(n) { mix(UInt64(l)) }
        fingerprint = String(hash, radix: 16)
    }

    /// "fashion-mnist (50000/10000/10000, 1x28x28, 10 classes) from PATH".
    public var summary: String {
        "\(name) (\(counts.map(String.init).joined(separator: "/")),"
            + " \(imageShape.map(String.init).joined(separator: "x")), \(classes) classes) from \(path)"
    }
}
