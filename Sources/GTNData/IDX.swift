/// The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic number, then one 32-bit
/// size per dimension) followed by the data, row-major. Only unsigned-byte files are used here:
/// images (magic 0x00000803, [n, rows, cols]) and labels (magic 0x00000801, [n]).
public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// The bytes of an IDX images file holding `count` images of `rows` x `cols` pixels.
    public static func encodeImages(_ pixels: [UInt8], count: Int, rows: Int, cols: Int) -> [UInt8] {
        precondition(
            pixels.count == count * rows * cols,
            "IDX.encodeImages: \(pixels.count) pixels for \(count) images of \(rows)x\(cols)")
        return header(imagesMagic, [count, rows, cols]) + pixels
    }

    /// The bytes of an IDX labels file.
    public static func encodeLabels(_ labels: [UInt8]) -> [UInt8] {
        header(labelsMagic, [labels.count]) + labels
    }

    private static func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for v in [magic] + dims.map({ UInt32($0) }) {
            for shift: UInt32 in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: v >> shift)) }
        }
        return out
    }

    /// Reads an images file (plain or gzip) into raw records, checking magic and size.
    static func readImages(_ path: String) throws -> ImageRecords {
        let (bytes, dims) = try read(path, magic: imagesMagic)
        let (n, rows, cols) = (dims[0], dims[1], dims[2])
        return ImageRecords(
            segments: [.init(bytes: bytes, base: 16, stride: rows * cols, count: n)],
            channels: 1, height: rows, width: cols, file: path)
    }

    /// Reads a labels file (plain or gzip), checking magic, size and that every label is below
    /// `classes`.
    static func readLabels(_ path: String, classes: Int) throws -> [Int] {
        let (bytes, dims) = try read(path, magic: labelsMagic)
        return try checkedLabels(bytes, offset: 8, stride: 1, count: dims[0], classes: classes, file: path)
    }

    private static func read(_ path: String, magic: UInt32) throws -> (bytes: [UInt8], dims: [Int]) {
        let (bytes, decompressed) = try FileBytes.readMaybeGzip(path)
        guard bytes.count >= 4 else {
            throw DataError.truncated(file: path, expected: 4, got: bytes.count, decompressed: decompressed)
        }
        let found = bigEndian32(bytes, 0)
        guard found == magic else { throw DataError.badMagic(file: path, expected: magic, got: found) }
        let rank = Int(magic & 0xff)
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DataError.truncated(file: path, expected: headerSize, got: bytes.count, decompressed: decompressed)
        }
        let dims = (0..<rank).map { Int(bigEndian32(bytes, 4 + 4 * $0)) }
        let expected = headerSize + dims.reduce(1, *)
        if bytes.count < expected {
            throw DataError.truncated(file: path, expected: expected, got: bytes.count, decompressed: decompressed)
        }
        if bytes.count > expected {
            throw DataError.trailingBytes(file: path, expected: expected, got: bytes.count, decompressed: decompressed)
        }
        return (bytes, dims)
    }

    private static func bigEndian32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }
}

/// Labels stored one byte each at `offset + i * stride`, checked against `0..<classes`.
func checkedLabels(_ bytes: [UInt8], offset: Int, stride: Int, count: Int, classes: Int, file: String) throws -> [Int] {
    try bytes.withUnsafeBufferPointer { b in
        var labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let l = Int(b[offset + i * stride])
            if l >= classes { throw DataError.labelOutOfRange(file: file, index: i, label: l, classes: classes) }
            labels[i] = l
        }
        return labels
    }
}
