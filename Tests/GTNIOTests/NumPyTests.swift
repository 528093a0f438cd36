import Foundation
import GTNIO
import Testing

/// The .npy header: magic, version 1.0, a dict literal, the data 64-byte aligned.
@Test func npyHeaderIsAlignedAndDescribesTheArray() {
    let file = NumPy.npy(NumPy.Array(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3]))
    #expect(Array(file.prefix(8)) == [0x93] + Array("NUMPY".utf8) + [1, 0])
    let headerLength = Int(file[8]) | Int(file[9]) << 8
    #expect((10 + headerLength) % 64 == 0)
    let header = String(decoding: file[10 ..< 10 + headerLength], as: UTF8.self)
    #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") && header.hasSuffix("\n"))
    #expect(file.count == 10 + headerLength + 24)
    let one = NumPy.npy(NumPy.Array(int64: [7], shape: [1]))
    #expect(String(decoding: one, as: UTF8.self).contains("'shape': (1,)"))
}

/// Python's zipfile and struct (no numpy) read back what the .npz holds. Skipped without python3.
@Test func pythonReadsOurNPZ() throws {
    let dir = NSTemporaryDirectory() + "gtn-npz-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/x.npz"
    try NumPy.writeNPZ([("images", NumPy.Array(float32: [1, 2, 3, 4, 5, 6.5], shape: [2, 3])),
                        ("labels", NumPy.Array(int64: [-7, 1 << 40], shape: [2]))], to: path)
    let script = """
        import ast, json, struct, sys, zipfile
        out = {}
        with zipfile.ZipFile(sys.argv[1]) as z:
            for name in sorted(z.namelist()):
                raw = z.read(name)
                assert raw[:8] == b'\\x93NUMPY\\x01\\x00'
                n, = struct.unpack('<H', raw[8:10])
                assert (10 + n) % 64 == 0
                h = ast.literal_eval(raw[10:10 + n].decode('latin1'))
                fmt = {'<f4': 'f', '<i8': 'q'}[h['descr']]
                count = 1
                for d in h['shape']: count *= d
                out[name] = [h['descr'], list(h['shape']), h['fortran_order'], list(struct.unpack('<%d%s' % (count, fmt), raw[10 + n:]))]
        print(json.dumps(out, sort_keys=True))
        """
    guard let (status, output) = try runPython(script, path) else { return }
    #expect(status == 0)
    #expect(output == #"{"images.npy": ["<f4", [2, 3], false, [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]], "labels.npy": ["<i8", [2], false, [-7, 1099511627776]]}"# + "\n")
}
