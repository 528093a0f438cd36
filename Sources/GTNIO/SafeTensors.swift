import Foundation
import GTNTensor

// The safetensors format (https://github.com/huggingface/safetensors), which PyTorch, NumPy, JAX
// and Rust users read with `safetensors.{torch,numpy}.load_file`:
//
//   8 bytes   N, the header length, a little-endian u64
//   N bytes   a UTF-8 JSON object: {"__metadata__": {string: string},    (optional)
//                                   "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...}
//             padded with spaces to a multiple of 8 bytes
//   the rest  the data: each tensor's elements, row-major, little-endian, at [b, e) of this region;
//             the tensors tile the region exactly (no gaps, no overlap, nothing after the last).
//
// The writer follows the reference implementation byte for byte: tensors ordered by dtype
// (8-byte types first: I64, then F64, then F32, so that every tensor's data is aligned to its
// element size), then by name; header keys in that same order, "__metadata__" first (and only when
// there is metadata; its keys sorted here, for determinism); compact JSON with serde_json's
// escaping. The reader is as strict as the reference reader, and says what is wrong and where.

/// An element type this module reads and writes.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"

    public var byteSize: Int { self == .f32 ? 4 : 8 }

    /// Rank in the reference implementation's dtype order (the writer sorts by it, descending).
    var order: Int {
        switch self {
        case .f32: return 0
        case .f64: return 1
        case .i64: return 2
        }
    }
}

/// A row-major array of `Int64` (step counters, random-generator states, labels), since `Tensor`
/// holds only floating-point scalars.
public struct Int64Tensor: Equatable, Sendable {
    public let shape: [Int]
    public var scalars: [Int64]

    public init(shape: [Int], scalars: [Int64]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Int64Tensor: negative dimension in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Int64Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }
}

/// What went wrong reading or writing a safetensors file. `description` names the file (`source`)
/// and the problem.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        /// The file could not be read at all.
        case unreadable(reason: String)
        /// The file is shorter than the 8-byte header length field.
        case truncated(fileSize: Int)
        /// The header length field points past the end of the file.
        case headerLengthBeyondFile(headerLength: UInt64, fileSize: Int)
        /// The header is not valid JSON (or not UTF-8); `offset` counts from the header's first byte.
        case invalidJSON(reason: String, offset: Int)
        /// The header is valid JSON but not a valid safetensors header.
        case invalidHeader(reason: String)
        /// A tensor's dtype is not one of F32, F64, I64.
        case unknownDType(tensor: String, dtype: String)
        /// A tensor's `data_offsets` are reversed or reach past the data region.
        case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataSize: Int)
        /// A tensor's byte range does not hold exactly shape-product x element-size bytes.
        case sizeMismatch(tensor: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
        /// Two tensors' byte ranges overlap.
        case overlapping(tensor: String, other: String)
        /// Bytes of the data region `[from, to)` belong to no tensor (a gap, or trailing data).
        case unclaimedBytes(from: Int, to: Int, dataSize: Int)
        /// `tensor(_:)` and friends: no tensor of that name; `available` lists every name in the file.
        case missingTensor(name: String, available: [String])
        /// `tensor(_:)` and friends: the tensor exists, but with another dtype.
        case wrongDType(name: String, requested: String, actual: String)
        /// Writing: a name used twice (across the F32, F64 and I64 dictionaries) or reserved.
        case invalidTensorName(name: String, reason: String)
    }

    /// The file (or other source) concerned.
    public let source: String
    public let problem: Problem

    public init(source: String, problem: Problem) {
        self.source = source
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case let .unreadable(reason):
            what = "cannot read: \(reason)"
        case let .truncated(fileSize):
            what = "truncated: the file is \(fileSize) bytes, shorter than the 8-byte header length field"
        case let .headerLengthBeyondFile(headerLength, fileSize):
            what =
                "truncated or corrupt: the header length field says \(headerLength) bytes of header, "
                + "but only \(max(fileSize - 8, 0)) bytes follow it (file size \(fileSize))"
        case let .invalidJSON(reason, offset):
            what = "header is not valid JSON: \(reason) at byte \(offset) of the header"
        case let .invalidHeader(reason):
            what = "invalid header: \(reason)"
        case let .unknownDType(tensor, dtype):
            what =
                "tensor '\(tensor)' has dtype '\(dtype)', which is not supported "
                + "(supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .offsetsOutOfRange(tensor, begin, end, dataSize):
            what =
                "tensor '\(tensor)' has data_offsets [\(begin), \(end)], "
                + (begin > end ? "which are reversed" : "beyond the \(dataSize)-byte data region")
        case let .sizeMismatch(tensor, dtype, shape, expectedBytes, actualBytes):
            what =
                "tensor '\(tensor)' (\(dtype), shape \(shape)) needs \(expectedBytes) bytes, "
                + "but its data_offsets span \(actualBytes)"
        case let .overlapping(tensor, other):
            what = "the data of tensors '\(other)' and '\(tensor)' overlap"
        case let .unclaimedBytes(from, to, dataSize):
            what =
                "bytes [\(from), \(to)) of the \(dataSize)-byte data region belong to no tensor"
                + (to == dataSize ? " (trailing data)" : " (a gap between tensors)")
        case let .missingTensor(name, available):
            what =
                "no tensor named '\(name)'; available: "
                + (available.isEmpty ? "none" : available.map { "'\($0)'" }.joined(separator: ", "))
        case let .wrongDType(name, requested, actual):
            what = "tensor '\(name)' is \(actual), not \(requested)"
        case let .invalidTensorName(name, reason):
            what = "cannot use tensor name '\(name)': \(reason)"
        }
        return "\(source): \(what)"
    }
}

/// The contents of a safetensors file: named tensors of three element types, and string metadata.
/// Names are unique across the three dictionaries.
public struct SafeTensorsFile: Equatable, Sendable {
    public var tensors: [String: Tensor<Float>]
    public var doubleTensors: [String: Tensor<Double>]
    public var int64Tensors: [String: Int64Tensor]
    public var metadata: [String: String]
    /// Where the contents came from (the path given to `read(path:)` or the `source` given to
    /// `init(data:source:)`), named by the errors of `tensor(_:)` and friends. Not part of `==`.
    public var source: String

    public init(
        tensors: [String: Tensor<Float>] = [:], doubleTensors: [String: Tensor<Double>] = [:],
        int64Tensors: [String: Int64Tensor] = [:], metadata: [String: String] = [:],
        source: String = "<safetensors>"
    ) {
        self.tensors = tensors
        self.doubleTensors = doubleTensors
        self.int64Tensors = int64Tensors
        self.metadata = metadata
        self.source = source
    }

    /// Same tensors (shapes and scalars, compared with `==`) and metadata; `source` is ignored.
    public static func == (a: SafeTensorsFile, b: SafeTensorsFile) -> Bool {
        a.tensors == b.tensors && a.doubleTensors == b.doubleTensors && a.int64Tensors == b.int64Tensors
            && a.metadata == b.metadata
    }

    /// Every tensor name, sorted.
    public var names: [String] {
        (Array(tensors.keys) + Array(doubleTensors.keys) + Array(int64Tensors.keys)).sorted()
    }

    private func dtype(of name: String) -> SafeTensorsDType? {
        if tensors[name] != nil { return .f32 }
        if doubleTensors[name] != nil { return .f64 }
        if int64Tensors[name] != nil { return .i64 }
        return nil
    }

    private func lookupError(_ name: String, _ requested: SafeTensorsDType, _ source: String?) -> SafeTensorsError {
        let source = source ?? self.source
        if let actual = dtype(of: name) {
            return SafeTensorsError(
                source: source,
                problem: .wrongDType(
                    name: name, requested: requested.rawValue, actual: actual.rawValue))
        }
        return SafeTensorsError(source: source, problem: .missingTensor(name: name, available: names))
    }

    /// The F32 tensor `name`. The error names the file (`source`, unless given here) and the
    /// missing key, and lists the available ones (or says that the tensor has another dtype).
    public func tensor(_ name: String, source: String? = nil) throws -> Tensor<Float> {
        guard let t = tensors[name] else { throw lookupError(name, .f32, source) }
        return t
    }

    /// The F64 tensor `name`.
    public func doubleTensor(_ name: String, source: String? = nil) throws -> Tensor<Double> {
        guard let t = doubleTensors[name] else { throw lookupError(name, .f64, source) }
        return t
    }

    /// The I64 tensor `name`.
    public func int64Tensor(_ name: String, source: String? = nil) throws -> Int64Tensor {
        guard let t = int64Tensors[name] else { throw lookupError(name, .i64, source) }
        return t
    }

    /// Checks that names are unique across the three dictionaries and not reserved.
    public func validateNames() throws {
        var seen = Set<String>()
        for name in Array(tensors.keys) + Array(doubleTensors.keys) + Array(int64Tensors.keys) {
            if name == "__metadata__" {
                throw SafeTensorsError(
                    source: source,
                    problem: .invalidTensorName(
                        name: name, reason: "the key is reserved for the metadata"))
            }
            if !seen.insert(name).inserted {
                throw SafeTensorsError(
                    source: source,
                    problem: .invalidTensorName(
                        name: name, reason: "used by two tensors of different dtypes"))
            }
        }
    }

    // MARK: Encoding

    /// The file's bytes. Deterministic: the same contents always give the same bytes (see the
    /// layout notes at the top of this file). Names must be valid (`validateNames`); a clash is a
    /// programming error and stops the program, while `write(path:)` throws instead.
    public func encoded() -> Data {
        do { try validateNames() } catch { preconditionFailure("SafeTensorsFile.encoded: \(error)") }

        struct Entry {
            let name: String
            let dtype: SafeTensorsDType
            let shape: [Int]
            let count: Int
        }
        var entries: [Entry] = []
        for (name, t) in tensors { entries.append(Entry(name: name, dtype: .f32, shape: t.shape, count: t.count)) }
        for (name, t) in doubleTensors {
            entries.append(Entry(name: name, dtype: .f64, shape: t.shape, count: t.count))
        }
        for (name, t) in int64Tensors {
            entries.append(Entry(name: name, dtype: .i64, shape: t.shape, count: t.scalars.count))
        }
        entries.sort { $0.dtype.order != $1.dtype.order ? $0.dtype.order > $1.dtype.order : $0.name < $1.name }

        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            header += metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(metadata[$0]!) }
                .joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        for e in entries {
            let size = e.count * e.dtype.byteSize
            if !first { header += "," }
            first = false
            header +=
                jsonString(e.name) + ":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":["
                + e.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))

        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for e in entries {
            switch e.dtype {
            case .f32: appendLittleEndian(tensors[e.name]!.scalars.map(\.bitPattern), to: &out)
            case .f64: appendLittleEndian(doubleTensors[e.name]!.scalars.map(\.bitPattern), to: &out)
            case .i64: appendLittleEndian(int64Tensors[e.name]!.scalars, to: &out)
            }
        }
        return out
    }

    /// Writes the file atomically (see `writeAtomically`).
    public func write(path: String) throws {
        var named = self
        named.source = path
        try named.validateNames()
        try writeAtomically(encoded(), to: path)
    }

    // MARK: Decoding

    /// Reads the file at `path`. Every error is a `SafeTensorsError` naming `path`.
    public static func read(path: String) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try readFile(path)
        } catch let error as FileError {
            throw SafeTensorsError(
                source: path,
                problem: .unreadable(
                    reason: error.errno.map {
                        String(cString: strerror($0))
                    } ?? error.message))
        }
        return try SafeTensorsFile(data: data, source: path)
    }

    /// Decodes a file's bytes, validating everything; `source` names the file in errors.
    public init(data: Data, source: String) throws {
        func fail(_ problem: SafeTensorsError.Problem) -> SafeTensorsError {
            SafeTensorsError(source: source, problem: problem)
        }
        self.init(source: source)
        let fileSize = data.count
        guard fileSize >= 8 else { throw fail(.truncated(fileSize: fileSize)) }

        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(raw[i]) << (8 * UInt64(i)) }
            guard n <= UInt64(fileSize - 8) else {
                throw fail(.headerLengthBeyondFile(headerLength: n, fileSize: fileSize))
            }
            let headerLength = Int(n)
            let dataStart = 8 + headerLength
            let dataSize = fileSize - dataStart

            var parser = JSONParser(UnsafeRawBufferPointer(rebasing: raw[8..<dataStart]))
            let root: JSONValue
            do {
                root = try parser.parseDocument()
            } catch let e as JSONParser.ParseError {
                throw fail(.invalidJSON(reason: e.reason, offset: e.offset))
            }
            guard case let .object(members) = root else {
                throw fail(.invalidHeader(reason: "the header is a JSON \(root.kind), not an object"))
            }

            struct Entry {
                let name: String
                let dtype: SafeTensorsDType
                let shape: [Int]
                let begin: Int
                let end: Int
            }
            var entries: [Entry] = []
            var keys = Set<String>()
            for (name, value) in members {
                guard keys.insert(name).inserted else {
                    throw fail(.invalidHeader(reason: "the key '\(name)' appears twice"))
                }
                if name == "__metadata__" {
                    guard case let .object(pairs) = value else {
                        throw fail(
                            .invalidHeader(reason: "__metadata__ is a JSON \(value.kind), not an object of strings"))
                    }
                    for (key, v) in pairs {
                        guard case let .string(s) = v else {
                            throw fail(
                                .invalidHeader(reason: "__metadata__ entry '\(key)' is a JSON \(v.kind), not a string"))
                        }
                        guard metadata.updateValue(s, forKey: key) == nil else {
                            throw fail(.invalidHeader(reason: "__metadata__ has the key '\(key)' twice"))
                        }
                    }
                    continue
                }
                guard case let .object(fields) = value else {
                    throw fail(.invalidHeader(reason: "tensor '\(name)': entry is a JSON \(value.kind), not an object"))
                }
                func field(_ key: String) throws -> JSONValue {
                    guard let v = fields.first(where: { $0.0 == key })?.1 else {
                        throw fail(.invalidHeader(reason: "tensor '\(name)': missing \"\(key)\""))
                    }
                    return v
                }
                func integers(_ key: String) throws -> [Int] {
                    guard case let .array(items) = try field(key) else {
                        throw fail(.invalidHeader(reason: "tensor '\(name)': \"\(key)\" is not an array"))
                    }
                    return try items.map { item in
                        guard case let .integer(i) = item, i >= 0 else {
                            throw fail(
                                .invalidHeader(
                                    reason:
                                        "tensor '\(name)': \"\(key)\" must hold non-negative integers, found \(item)"))
                        }
                        return i
                    }
                }
                guard case let .string(dtypeName) = try field("dtype") else {
                    throw fail(.invalidHeader(reason: "tensor '\(name)': \"dtype\" is not a string"))
                }
                guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                    throw fail(.unknownDType(tensor: name, dtype: dtypeName))
                }
                let shape = try integers("shape")
                let offsets = try integers("data_offsets")
                guard offsets.count == 2 else {
                    throw fail(
                        .invalidHeader(
                            reason: "tensor '\(name)': \"data_offsets\" must hold 2 integers, found \(offsets.count)"))
                }
                let (begin, end) = (offsets[0], offsets[1])
                guard begin <= end, end <= dataSize else {
                    throw fail(.offsetsOutOfRange(tensor: name, begin: begin, end: end, dataSize: dataSize))
                }
                var bytes = dtype.byteSize
                for d in shape {
                    let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
                    guard !overflow else {
                        throw fail(.invalidHeader(reason: "tensor '\(name)': shape \(shape) is too large"))
                    }
                    bytes = p
                }
                guard bytes == end - begin else {
                    throw fail(
                        .sizeMismatch(
                            tensor: name, dtype: dtypeName, shape: shape,
                            expectedBytes: bytes, actualBytes: end - begin))
                }
                entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
            }

            // The tensors must tile the data region: sorted by offset, each starts where the
            // previous one ended.
            let sorted = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
            var cursor = 0
            var previous: String? = nil
            for e in sorted {
                if e.begin < cursor {
                    throw fail(.overlapping(tensor: e.name, other: previous!))
                }
                if e.begin > cursor {
                    throw fail(.unclaimedBytes(from: cursor, to: e.begin, dataSize: dataSize))
                }
                if e.end > cursor || previous == nil {
                    cursor = e.end
                    previous = e.name
                }
            }
            if cursor < dataSize {
                throw fail(.unclaimedBytes(from: cursor, to: dataSize, dataSize: dataSize))
            }

            for e in entries {
                let region = UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)])
                switch e.dtype {
                case .f32:
                    let bits: [UInt32] = loadLittleEndian(region)
                    tensors[e.name] = Tensor(shape: e.shape, scalars: bits.map(Float.init(bitPattern:)))
                case .f64:
                    let bits: [UInt64] = loadLittleEndian(region)
                    doubleTensors[e.name] = Tensor(shape: e.shape, scalars: bits.map(Double.init(bitPattern:)))
                case .i64:
                    int64Tensors[e.name] = Int64Tensor(shape: e.shape, scalars: loadLittleEndian(region))
                }
            }
        }
    }
}

// MARK: - Little-endian bulk conversion

private func appendLittleEndian<T: FixedWidthInteger>(_ values: [T], to out: inout Data) {
    #if _endian(little)
        values.withUnsafeBytes { out.append(contentsOf: $0) }
    #else
        values.map(\.littleEndian).withUnsafeBytes { out.append(contentsOf: $0) }
    #endif
}

private func loadLittleEndian<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer) -> [T] {
    let n = bytes.count / MemoryLayout<T>.size
    let values = [T](unsafeUninitializedCapacity: n) { buffer, count in
        if n > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes) }
        count = n
    }
    #if _endian(little)
        return values
    #else
        return values.map { T(littleEndian: $0) }
    #endif
}
