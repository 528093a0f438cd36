/// Everything that can go wrong while loading a data set. Every message names the file (or
/// directory) concerned and says what is wrong with it.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data directory does not exist (or is not a directory).
    case directoryNotFound(path: String)
    /// Files a format needs are missing from `directory`; `lookedFor` lists them (alternatives
    /// written as `name[.gz]`).
    case missingFiles(directory: String, format: String, lookedFor: [String])
    /// The file exists but could not be opened or read.
    case unreadable(file: String, reason: String)
    /// The file holds fewer bytes than its header (or format) says it must. `decompressed`: the
    /// count is that of the gzip-decompressed content.
    case truncated(file: String, expected: Int, got: Int, decompressed: Bool)
    /// The file holds more bytes than its header says it should.
    case trailingBytes(file: String, expected: Int, got: Int, decompressed: Bool)
    /// The file does not start with the IDX magic number expected for its role.
    case badMagic(file: String, expected: UInt32, got: UInt32)
    /// An images file and its labels file disagree on the number of examples.
    case countMismatch(imagesFile: String, images: Int, labelsFile: String, labels: Int)
    /// The file starts with the gzip magic bytes but its compressed stream is damaged or cut short.
    case corruptGzip(file: String, reason: String)
    /// A label outside `0..<classes`; `index` is the example's position in the file.
    case labelOutOfRange(file: String, index: Int, label: Int, classes: Int)
    /// Images of a file do not have the shape of the rest of the data set ([C, H, W]).
    case shapeMismatch(file: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case let .directoryNotFound(path):
            return "data directory not found: \(path) does not exist or is not a directory"
        case let .missingFiles(directory, format, lookedFor):
            return "missing \(format) file(s) in \(directory): looked for \(lookedFor.joined(separator: ", "))"
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .truncated(file, expected, got, decompressed):
            return "\(file): truncated: expected \(expected) bytes, got \(got)"
                + (decompressed ? " (after gzip decompression)" : "")
        case let .trailingBytes(file, expected, got, decompressed):
            return "\(file): unexpected trailing data: expected \(expected) bytes, got \(got)"
                + (decompressed ? " (after gzip decompression)" : "")
        case let .badMagic(file, expected, got):
            return "\(file): bad magic number \(hex(got)), expected \(hex(expected)) (\(idxKind(expected)))"
                + (idxKind(got).isEmpty ? "" : "; this looks like \(idxKind(got))")
        case let .countMismatch(imagesFile, images, labelsFile, labels):
            return
                "image/label count mismatch: \(imagesFile) holds \(images) images but \(labelsFile) holds \(labels) "
                + "labels"
        case let .corruptGzip(file, reason):
            return "\(file): corrupt gzip data: \(reason)"
        case let .labelOutOfRange(file, index, label, classes):
            return "\(file): label \(label) of example \(index) is out of range 0..<\(classes)"
        case let .shapeMismatch(file, expected, got):
            return "\(file): images of shape \(got), expected \(expected) like the rest of the data set"
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

private func idxKind(_ magic: UInt32) -> String {
    switch magic {
    case IDX.imagesMagic: return "an IDX images file, unsigned bytes, 3 dimensions"
    case IDX.labelsMagic: return "an IDX labels file, unsigned bytes, 1 dimension"
    default: return ""
    }
}
