import Foundation
import ZIPFoundation

/// NumPy's `.npy` array format (version 1.0): a header that is a Python dict literal giving the
/// dtype, the order and the shape, padded so the data starts on a 64-byte boundary, then the
/// raw little-endian values in C order. Readable by `numpy.load`.
public enum NumPy {
    /// An array to write: its NumPy dtype ("<f4", "<i8", "|u1"), shape and raw bytes.
    public struct Array {
        public var dtype: String
        public var shape: [Int]
        public var bytes: Data

        public init(float32 values: [Float], shape: [Int]) {
            precondition(values.count == shape.reduce(1, *), "NumPy.Array: \(values.count) values for shape \(shape)")
            self.init(dtype: "<f4", shape: shape, bytes: values.withUnsafeBytes { Data($0) })
        }

        public init(int64 values: [Int], shape: [Int]) {
            precondition(values.count == shape.reduce(1, *), "NumPy.Array: \(values.count) values for shape \(shape)")
            self.init(
                dtype: "<i8", shape: shape, bytes: values.map { Int64($0).littleEndian }.withUnsafeBytes { Data($0) })
        }

        public init(dtype: String, shape: [Int], bytes: Data) {
            (self.dtype, self.shape, self.bytes) = (dtype, shape, bytes)
        }
    }

    /// The `.npy` file of `array`.
    public static func npy(_ array: Array) -> Data {
        precondition(Int(1).littleEndian == 1, "NumPy.npy: written for a little-endian machine")
        let shape =
            array.shape.count == 1
            ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(array.dtype)', 'fortran_order': False, 'shape': \(shape), }"
        // magic (6) + version (2) + header length (2) + header + "\n", a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Swift.Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Swift.Array(header.utf8))
        out.append(array.bytes)
        return out
    }

    /// A `.npz` archive (a zip of one `.npy` per name, deflated) at `path`, written atomically:
    /// `numpy.load(path)["images"]`.
    public static func writeNPZ(_ arrays: [(name: String, array: Array)], to path: String) throws {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, array) in arrays {
            let file = npy(array)
            try archive.addEntry(
                with: name + ".npy", type: .file, uncompressedSize: Int64(file.count),
                compressionMethod: .deflate
            ) { position, size in
                file.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard let data = archive.data else { throw CocoaError(.fileWriteUnknown) }
        try writeAtomically(data, to: path)
    }
}
