import Foundation

/// The CIFAR-10 binary version: files of records, each one label byte then 3072 pixel bytes
/// (32x32 red plane, then green, then blue), 10000 records per file.
public enum CIFAR10 {
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let testFile = "test_batch.bin"
    /// The folder the official archive unpacks to; `DataSource` also looks inside it.
    public static let subdirectory = "cifar-10-batches-bin"
    public static let recordSize = 1 + 3 * 32 * 32

    /// The bytes of a batch file holding `labels.count` records; `pixels` is CHW per record.
    public static func encodeBatch(labels: [UInt8], pixels: [UInt8]) -> [UInt8] {
        precondition(
            pixels.count == labels.count * 3072,
            "CIFAR10.encodeBatch: \(pixels.count) pixels for \(labels.count) records of 3072")
        var out: [UInt8] = []
        out.reserveCapacity(labels.count * recordSize)
        for (i, l) in labels.enumerated() {
            out.append(l)
            out.append(contentsOf: pixels[i * 3072..<(i + 1) * 3072])
        }
        return out
    }

    /// Reads batch files (each plain or gzip) as one sequence of records, with their labels.
    static func read(_ paths: [String]) throws -> (records: ImageRecords, labels: [Int]) {
        var segments: [ImageRecords.Segment] = []
        var labels: [Int] = []
        for path in paths {
            let (bytes, decompressed) = try FileBytes.readMaybeGzip(path)
            let n = bytes.count / recordSize
            if bytes.count == 0 || bytes.count % recordSize != 0 {
                throw DataError.truncated(
                    file: path, expected: (n + 1) * recordSize, got: bytes.count,
                    decompressed: decompressed)
            }
            labels += try checkedLabels(bytes, offset: 0, stride: recordSize, count: n, classes: 10, file: path)
            segments.append(.init(bytes: bytes, base: 1, stride: recordSize, count: n))
        }
        let file = paths.count == 1 ? paths[0] : "\(paths.first ?? "")...\(paths.last ?? "")"
        return (ImageRecords(segments: segments, channels: 3, height: 32, width: 32, file: file), labels)
    }
}
