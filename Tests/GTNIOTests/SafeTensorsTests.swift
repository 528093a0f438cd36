import Foundation
import GTNIO
import GTNTensor
import Testing

// MARK: - Helpers

/// A file as Python's safetensors writes it: u64 little-endian header length, the JSON header
/// padded with spaces to a multiple of 8, then the data.
private func handMade(header: String, data: [UInt8], pad: Bool = true) -> Data {
    handMade(headerBytes: Array(header.utf8), data: data, pad: pad)
}

private func handMade(headerBytes: [UInt8], data: [UInt8], pad: Bool = true) -> Data {
    var h = headerBytes
    if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
    var out = [UInt8]()
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64(i)))) }
    return Data(out + h + data)
}

private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}

private func f32(_ values: [Float]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }

private func decodeError(_ data: Data, source: String = "bad.safetensors") -> SafeTensorsError? {
    do {
        _ = try SafeTensorsFile(data: data, source: source)
        return nil
    } catch let e as SafeTensorsError {
        return e
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// Decoding must fail with `problem`, and the message must name the source.
private func expectFailure(_ data: Data, _ problem: SafeTensorsError.Problem, mentions words: [String] = [],
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let source = "/some/dir/bad.safetensors"
    guard let e = decodeError(data, source: source) else {
        Issue.record("decoding succeeded, expected \(problem)", sourceLocation: sourceLocation)
        return
    }
    #expect(e.problem == problem, sourceLocation: sourceLocation)
    #expect(e.source == source, sourceLocation: sourceLocation)
    #expect(e.description.hasPrefix(source + ": "), "\(e.description)", sourceLocation: sourceLocation)
    for w in words {
        #expect(e.description.contains(w), "\(e.description) should mention \(w)", sourceLocation: sourceLocation)
    }
}

private func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "gtnio-tests-" + UUID().uuidString
    try createDirectory(dir)
    return dir
}

// MARK: - Round trips

@Test func roundTripFloatAndDoubleOfSeveralShapes() throws {
    var rng = RandomSource(seed: 7)
    var file = SafeTensorsFile()
    for (i, shape) in [[], [1], [5], [3, 4], [2, 3, 4], [2, 1, 3, 2], [0], [3, 0, 2]].enumerated() {
        file.tensors["f\(i)"] = Tensor<Float>.randomNormal(shape, using: &rng)
        file.doubleTensors["d\(i)"] = Tensor<Double>.randomNormal(shape, using: &rng)
    }
    file.tensors["scalar"] = Tensor<Float>(3.25)
    file.doubleTensors["pi"] = Tensor<Double>(Double.pi)
    file.int64Tensors["step"] = Int64Tensor(shape: [], scalars: [1234])
    file.int64Tensors["rng"] = Int64Tensor(shape: [4], scalars: [Int64.min, -1, 0, Int64.max])

    let bytes = file.encoded()
    let back = try SafeTensorsFile(data: bytes, source: "memory")
    #expect(back == file)
    #expect(back.metadata.isEmpty)
    #expect(back.tensors["scalar"]!.shape == [])
    #expect(back.doubleTensors["pi"]!.scalar == Double.pi)
    // No metadata: no "__metadata__" key at all (as Python writes a file without metadata).
    #expect(!String(decoding: bytes, as: UTF8.self).contains("__metadata__"))
    // Deterministic.
    #expect(file.encoded() == bytes)
    // Every tensor's data is aligned to its element size (8-byte dtypes first).
    let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    #expect(n % 8 == 0)
}

@Test func roundTripSpecialValuesBitExact() throws {
    let values: [Float] = [.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
    let file = SafeTensorsFile(tensors: ["x": Tensor(shape: [6], scalars: values)],
                               doubleTensors: ["y": Tensor(shape: [2], scalars: [.nan, -0.0])])
    let back = try SafeTensorsFile(data: file.encoded(), source: "memory")
    #expect(back.tensors["x"]!.scalars.map(\.bitPattern) == values.map(\.bitPattern))
    #expect(back.doubleTensors["y"]!.scalars.map(\.bitPattern) == [Double.nan.bitPattern, (-0.0 as Double).bitPattern])
}

@Test func roundTripMetadataWithAwkwardStrings() throws {
    let meta = ["format": "pt", "quote\"back\\slash": "tab\tnewline\nnul\u{0}", "ünïcødé 🎉": "日本語", "": ""]
    let file = SafeTensorsFile(tensors: ["weird \"name\"\n": Tensor(shape: [1], scalars: [1])], metadata: meta)
    let back = try SafeTensorsFile(data: file.encoded(), source: "memory")
    #expect(back == file)
}

@Test func emptyFileMatchesReferenceBytes() throws {
    // Reference implementation: serialize({}) and serialize({}, {"framework": "pt"}).
    let empty = SafeTensorsFile().encoded()
    #expect([UInt8](empty) == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
    #expect(try SafeTensorsFile(data: empty, source: "e") == SafeTensorsFile())
    let withMeta = SafeTensorsFile(metadata: ["framework": "pt"]).encoded()
    #expect([UInt8](withMeta) == [UInt8](handMade(header: #"{"__metadata__":{"framework":"pt"}}"#, data: [])))
    #expect(withMeta.count == 48)
}

// MARK: - Hand-made files, as Python's safetensors writes them

@Test func decodesHandMadeFile() throws {
    let bytes = handMade(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: f32([1.5, -2]))
    // Header: 54 bytes of JSON + 2 spaces.
    #expect(bytes.count == 8 + 56 + 8)
    let file = try SafeTensorsFile(data: bytes, source: "hand.safetensors")
    #expect(file.tensors == ["a": Tensor(shape: [2], scalars: [1.5, -2])])
    #expect(file.doubleTensors.isEmpty && file.metadata.isEmpty)
    #expect(try file.tensor("a").scalars == [1.5, -2])
    // Byte-exact: encoding the same contents gives the same bytes.
    #expect(file.encoded() == bytes)
}

@Test func encodesByteExactlyLikeTheReference() throws {
    // The reference implementation's own test vector (tensor "attn0", F32, shape [1, 1, 2, 3]).
    let expected: [UInt8] = [
        72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
        121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
        91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
        115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
        32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
        160, 64,
    ]
    let file = SafeTensorsFile(tensors: ["attn0": Tensor(shape: [1, 1, 2, 3], scalars: [0, 1, 2, 3, 4, 5])])
    #expect([UInt8](file.encoded()) == expected)
    #expect(try SafeTensorsFile(data: Data(expected), source: "ref") == file)

    // Mixed dtypes and metadata: "__metadata__" first, then I64, F64, F32, each by name.
    let mixed = SafeTensorsFile(
        tensors: ["a": Tensor(shape: [1], scalars: [1]), "z": Tensor(shape: [], scalars: [2])],
        doubleTensors: ["b": Tensor(shape: [1], scalars: [0.5])],
        int64Tensors: ["c": Int64Tensor(shape: [1], scalars: [-3])],
        metadata: ["y": "2", "x": "1"])
    let header = #"{"__metadata__":{"x":"1","y":"2"},"#
        + #""c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"#
        + #""b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"#
        + #""a":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"#
        + #""z":{"dtype":"F32","shape":[],"data_offsets":[20,24]}}"#
    let data = le(Int64(-3)) + le((0.5 as Double).bitPattern) + f32([1, 2])
    #expect(mixed.encoded() == handMade(header: header, data: data))
}

@Test func decodesVariantsOtherWritersProduce() throws {
    // Unpadded header, whitespace, other key orders, escaped names, extra fields, offsets in any
    // order, empty metadata.
    let header = """
        { "__metadata__" : { } , "b\\u00e9" : { "data_offsets" : [ 4 , 12 ], "shape" : [ 1 ], "dtype" : "F64", "extra": [null, true, 1.5e3] },
          "a" : { "dtype" : "F32" , "shape" : [ ] , "data_offsets" : [ 0 , 4 ] } }\t\r\n
        """
    let data = f32([7]) + le((2.5 as Double).bitPattern)
    let file = try SafeTensorsFile(data: handMade(header: header, data: data, pad: false), source: "variant")
    #expect(file.tensors == ["a": Tensor(7)])
    #expect(file.doubleTensors == ["bé": Tensor(shape: [1], scalars: [2.5])])
    #expect(file.metadata.isEmpty)
}

// MARK: - Decode errors, each naming the source

@Test func truncatedFiles() {
    expectFailure(Data(), .truncated(fileSize: 0), mentions: ["truncated"])
    expectFailure(Data([1, 0, 0]), .truncated(fileSize: 3), mentions: ["truncated", "3 bytes"])
}

@Test func headerLengthBeyondFile() {
    let good = handMade(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: f32([1, 2]))
    // Cut inside the header.
    expectFailure(good.prefix(20), .headerLengthBeyondFile(headerLength: 56, fileSize: 20), mentions: ["56"])
    // Absurd length.
    var huge = good
    huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    expectFailure(huge, .headerLengthBeyondFile(headerLength: .max, fileSize: good.count))
    // Cut inside the data: the offsets now reach past the data region.
    expectFailure(good.prefix(good.count - 1),
                  .offsetsOutOfRange(tensor: "a", begin: 0, end: 8, dataSize: 7), mentions: ["'a'", "[0, 8]"])
}

@Test func invalidJSON() {
    func check(_ header: String, _ reason: String, at offset: Int) {
        expectFailure(handMade(header: header, data: []), .invalidJSON(reason: reason, offset: offset),
                      mentions: ["JSON"])
    }
    check(#"{"a":"#, "unexpected end of header, expected a value", at: 8)  // after the padding
    check(#"{"a" 1}"#, "unexpected '1', expected ':'", at: 5)
    check(#"{"a":1,}"#, "unexpected '}', expected a key string", at: 7)
    check(#"{"a":tru}"#, "invalid literal (expected 'true')", at: 8)
    check(#"{"a":01}"#, "invalid number: leading zero", at: 5)
    check(#"{} {}"#, "unexpected '{' after the JSON value", at: 3)
    check(#"{"a\q":1}"#, #"invalid escape \q"#, at: 3)
    check(#"{"\ud800":1}"#, #"lone leading surrogate in a \u escape"#, at: 8)
    check(String(repeating: "[", count: 200), "nesting deeper than 128 levels", at: 128)
    // Not UTF-8.
    var bad = Array(#"{"a":"x"}"#.utf8)
    bad[6] = 0xFF
    expectFailure(handMade(headerBytes: bad, data: []),
                  .invalidJSON(reason: "string is not valid UTF-8", offset: 5))
    // The header is padded with NULs instead of spaces.
    let nulPadded = handMade(header: "{}\0\0\0\0\0\0", data: [], pad: false)
    expectFailure(nulPadded, .invalidJSON(reason: "unexpected byte 0x0 after the JSON value", offset: 2))
}

@Test func invalidHeaderStructure() {
    func check(_ header: String, _ reason: String, data: [UInt8] = []) {
        expectFailure(handMade(header: header, data: data), .invalidHeader(reason: reason))
    }
    check("[]", "the header is a JSON array, not an object")
    check(#"{"a":3}"#, "tensor 'a': entry is a JSON number, not an object")
    check(#"{"a":{"shape":[],"data_offsets":[0,4]}}"#, "tensor 'a': missing \"dtype\"", data: f32([1]))
    check(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, "tensor 'a': missing \"shape\"", data: f32([1]))
    check(#"{"a":{"dtype":"F32","shape":[]}}"#, "tensor 'a': missing \"data_offsets\"", data: f32([1]))
    check(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
          "tensor 'a': \"shape\" must hold non-negative integers, found -1", data: f32([1]))
    check(#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#,
          "tensor 'a': \"shape\" must hold non-negative integers, found 1.0", data: f32([1]))
    check(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
          "tensor 'a': \"data_offsets\" must hold 2 integers, found 3", data: f32([1, 2]))
    check(#"{"a":{"dtype":3,"shape":[1],"data_offsets":[0,4]}}"#, "tensor 'a': \"dtype\" is not a string", data: f32([1]))
    check(#"{"__metadata__":{"k":1}}"#, "__metadata__ entry 'k' is a JSON number, not a string")
    check(#"{"__metadata__":[]}"#, "__metadata__ is a JSON array, not an object of strings")
    check(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
          "the key 'a' appears twice", data: f32([1]))
    check(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#,
          "tensor 'a': shape [4611686018427387904, 4] is too large", data: f32([1]))
}

@Test func unknownDType() {
    expectFailure(handMade(header: #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                  .unknownDType(tensor: "h", dtype: "F16"), mentions: ["'h'", "F16", "F32, F64, I64"])
    expectFailure(handMade(header: #"{"h":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                  .unknownDType(tensor: "h", dtype: "f32"))
}

@Test func badOffsets() {
    let data = f32([1, 2, 3, 4])
    func check(_ tensors: String, _ problem: SafeTensorsError.Problem, mentions: [String] = []) {
        expectFailure(handMade(header: "{" + tensors + "}", data: data), problem, mentions: mentions)
    }
    func t(_ name: String, _ shape: String, _ b: Int, _ e: Int) -> String {
        #""\#(name)":{"dtype":"F32","shape":[\#(shape)],"data_offsets":[\#(b),\#(e)]}"#
    }
    check(t("a", "4", 0, 20), .offsetsOutOfRange(tensor: "a", begin: 0, end: 20, dataSize: 16),
          mentions: ["beyond the 16-byte data region"])
    check(t("a", "0", 8, 4), .offsetsOutOfRange(tensor: "a", begin: 8, end: 4, dataSize: 16), mentions: ["reversed"])
    check(t("a", "3", 0, 16), .sizeMismatch(tensor: "a", dtype: "F32", shape: [3], expectedBytes: 12, actualBytes: 16),
          mentions: ["12 bytes", "span 16"])
    check(t("a", "2", 0, 8) + "," + t("b", "2", 4, 12),
          .overlapping(tensor: "b", other: "a"), mentions: ["'a'", "'b'", "overlap"])
    check(t("a", "2", 0, 8) + "," + t("b", "", 4, 8) + "," + t("c", "2", 8, 16),
          .overlapping(tensor: "b", other: "a"))
    check(t("a", "1", 0, 4) + "," + t("b", "2", 8, 16),
          .unclaimedBytes(from: 4, to: 8, dataSize: 16), mentions: ["gap"])
    check(t("a", "2", 0, 8), .unclaimedBytes(from: 8, to: 16, dataSize: 16), mentions: ["trailing"])
    check("", .unclaimedBytes(from: 0, to: 16, dataSize: 16))
    // Zero-sized tensors at boundaries are fine.
    let ok = handMade(header: "{" + [t("e", "0", 0, 0), t("a", "4", 0, 16), t("z", "2,0", 16, 16)].joined(separator: ",") + "}",
                      data: data)
    #expect(throws: Never.self) { try SafeTensorsFile(data: ok, source: "ok") }
}

@Test func missingTensorNamesKeyAndAlternatives() throws {
    let file = SafeTensorsFile(tensors: ["w1": Tensor(1), "w2": Tensor(2)], doubleTensors: ["d": Tensor(3)],
                               source: "ckpt.safetensors")
    do {
        _ = try file.tensor("w3")
        Issue.record("expected an error")
    } catch let e as SafeTensorsError {
        #expect(e.problem == .missingTensor(name: "w3", available: ["d", "w1", "w2"]))
        #expect(e.description == "ckpt.safetensors: no tensor named 'w3'; available: 'd', 'w1', 'w2'")
    }
    do {
        _ = try file.tensor("d")
        Issue.record("expected an error")
    } catch let e as SafeTensorsError {
        #expect(e.description == "ckpt.safetensors: tensor 'd' is F64, not F32")
    }
    #expect(try file.doubleTensor("d").scalar == 3)
    #expect(throws: SafeTensorsError.self) { try file.int64Tensor("w1") }
    // An explicit source overrides the remembered one.
    #expect(throws: SafeTensorsError(source: "other", problem: .wrongDType(name: "w1", requested: "I64", actual: "F32"))) {
        try file.int64Tensor("w1", source: "other")
    }

    // A decoded file remembers its source; `source` does not take part in ==.
    let decoded = try SafeTensorsFile(data: SafeTensorsFile().encoded(), source: "/runs/empty.safetensors")
    #expect(decoded.source == "/runs/empty.safetensors")
    #expect(decoded == SafeTensorsFile())
    #expect(throws: SafeTensorsError(source: "/runs/empty.safetensors",
                                     problem: .missingTensor(name: "x", available: []))) { try decoded.tensor("x") }
    #expect("\(SafeTensorsError(source: "f", problem: .missingTensor(name: "x", available: [])))"
        == "f: no tensor named 'x'; available: none")
}

// MARK: - Files on disk

@Test func writeAndReadFile() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/model.safetensors"
    let file = SafeTensorsFile(tensors: ["w": Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])],
                               metadata: ["step": "10"])
    try file.write(path: path)
    let back = try SafeTensorsFile.read(path: path)
    #expect(back == file)
    #expect(back.source == path)
    #expect(throws: SafeTensorsError(source: path, problem: .missingTensor(name: "v", available: ["w"]))) {
        try back.tensor("v")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.safetensors"])

    // Unreadable files and invalid names name the path.
    do {
        _ = try SafeTensorsFile.read(path: dir + "/missing.safetensors")
        Issue.record("expected an error")
    } catch let e as SafeTensorsError {
        #expect(e.description == "\(dir)/missing.safetensors: cannot read: No such file or directory")
    }
    let clash = SafeTensorsFile(tensors: ["x": Tensor(1)], doubleTensors: ["x": Tensor(2)])
    #expect(throws: SafeTensorsError(source: path, problem: .invalidTensorName(
        name: "x", reason: "used by two tensors of different dtypes"))) { try clash.write(path: path) }
    #expect(try SafeTensorsFile.read(path: path) == file)
}

/// Cross-check with Python's own json/struct modules (no numpy, no safetensors): a reader written
/// from the format description must see what we wrote. Skipped when python3 is absent.
@Test func pythonReadsOurFile() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/x.safetensors"
    try SafeTensorsFile(tensors: ["a": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6.5])],
                        doubleTensors: ["b": Tensor(-0.25)],
                        int64Tensors: ["c": Int64Tensor(shape: [2], scalars: [-7, 1 << 40])],
                        metadata: ["k": "v"]).write(path: path)
    let script = """
        import json, struct, sys
        raw = open(sys.argv[1], 'rb').read()
        n, = struct.unpack('<Q', raw[:8])
        assert n % 8 == 0
        h = json.loads(raw[8:8 + n])
        data = raw[8 + n:]
        out = {'__metadata__': h.pop('__metadata__')}
        fmt = {'F32': 'f', 'F64': 'd', 'I64': 'q'}
        for k, v in h.items():
            b, e = v['data_offsets']
            size = struct.calcsize(fmt[v['dtype']])
            assert b % size == 0, 'unaligned'
            out[k] = [v['dtype'], v['shape'], list(struct.unpack('<%d%s' % ((e - b) // size, fmt[v['dtype']]), data[b:e]))]
        print(json.dumps(out, sort_keys=True))
        """
    guard let (status, output) = try runPython(script, path) else { return }
    #expect(status == 0)
    #expect(output == #"{"__metadata__": {"k": "v"}, "a": ["F32", [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]], "#
        + #""b": ["F64", [], [-0.25]], "c": ["I64", [2], [-7, 1099511627776]]}"# + "\n")
}
