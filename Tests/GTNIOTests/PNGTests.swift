import SystemZlib
import Foundation
import GTNIO
import GTNTensor
import Testing

private struct Chunk {
    let type: String
    let data: [UInt8]
    let storedCRC: UInt32
}

private func bigEndian(_ b: ArraySlice<UInt8>) -> UInt32 {
    b.reduce(0) { $0 << 8 | UInt32($1) }
}

/// Splits a PNG into its chunks, checking the signature and each chunk's CRC with zlib's crc32.
private func parsePNG(_ png: Data, sourceLocation: SourceLocation = #_sourceLocation) -> [Chunk] {
    let bytes = [UInt8](png)
    #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], sourceLocation: sourceLocation)
    var chunks: [Chunk] = []
    var i = 8
    while i + 12 <= bytes.count {
        let length = Int(bigEndian(bytes[i..<i + 4]))
        guard i + 12 + length <= bytes.count else { break }
        let type = String(decoding: bytes[i + 4..<i + 8], as: UTF8.self)
        let data = Array(bytes[i + 8..<i + 8 + length])
        let stored = bigEndian(bytes[i + 8 + length..<i + 12 + length])
        let computed = bytes[i + 4..<i + 8 + length].withUnsafeBufferPointer {
            UInt32(crc32(0, $0.baseAddress, uInt($0.count)))
        }
        #expect(stored == computed, "CRC of chunk \(type)", sourceLocation: sourceLocation)
        chunks.append(Chunk(type: type, data: data, storedCRC: stored))
        i += 12 + length
    }
    #expect(i == bytes.count, "bytes left after the last chunk", sourceLocation: sourceLocation)
    return chunks
}

/// Inflates the concatenated IDAT data with zlib's uncompress.
private func inflateIDAT(_ chunks: [Chunk], expectedSize: Int) -> [UInt8]? {
    let compressed = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
    var out = [UInt8](repeating: 0, count: expectedSize + 16)
    var outSize = uLong(out.count)
    let rc = out.withUnsafeMutableBufferPointer { dst in
        compressed.withUnsafeBufferPointer { src in
            uncompress(dst.baseAddress, &outSize, src.baseAddress, uLong(src.count))
        }
    }
    guard rc == Z_OK else { return nil }
    return Array(out.prefix(Int(outSize)))
}

/// The scanlines PNG expects with filter type 0: each row prefixed by a zero byte.
private func filteredScanlines(_ pixels: [UInt8], rowBytes: Int) -> [UInt8] {
    stride(from: 0, to: pixels.count, by: rowBytes).flatMap { [0] + pixels[$0..<$0 + rowBytes] }
}

private func checkStructure(width: Int, height: Int, channels: Int, colourType: UInt8, pixels: [UInt8],
                            sourceLocation: SourceLocation = #_sourceLocation) {
    let png = encodePNG(width: width, height: height, channels: channels, pixels: pixels)
    let chunks = parsePNG(png, sourceLocation: sourceLocation)
    #expect(chunks.first?.type == "IHDR", sourceLocation: sourceLocation)
    #expect(chunks.last?.type == "IEND" && chunks.last?.data.isEmpty == true, sourceLocation: sourceLocation)
    #expect(chunks.dropFirst().dropLast().allSatisfy { $0.type == "IDAT" }, sourceLocation: sourceLocation)
    let ihdr = chunks[0].data
    #expect(ihdr.count == 13, sourceLocation: sourceLocation)
    #expect(bigEndian(ihdr[0..<4]) == UInt32(width), sourceLocation: sourceLocation)
    #expect(bigEndian(ihdr[4..<8]) == UInt32(height), sourceLocation: sourceLocation)
    // Bit depth 8, colour type, compression 0, filter method 0, no interlace.
    #expect(Array(ihdr[8...]) == [8, colourType, 0, 0, 0], sourceLocation: sourceLocation)
    let expected = filteredScanlines(pixels, rowBytes: width * channels)
    #expect(inflateIDAT(chunks, expectedSize: expected.count) == expected, sourceLocation: sourceLocation)
}

@Test func pngStructureGreyAndRGB() {
    var rng = RandomSource(seed: 3)
    let grey = (0..<(7 * 5)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    checkStructure(width: 7, height: 5, channels: 1, colourType: 0, pixels: grey)
    let rgb = (0..<(4 * 3 * 3)).map { UInt8($0 * 7 % 256) }
    checkStructure(width: 4, height: 3, channels: 3, colourType: 2, pixels: rgb)
    checkStructure(width: 1, height: 1, channels: 1, colourType: 0, pixels: [200])
    checkStructure(width: 2, height: 1, channels: 4, colourType: 6, pixels: [1, 2, 3, 4, 5, 6, 7, 8])
}

@Test func pngLargeImageSpansSeveralIDATChunks() {
    // Incompressible data larger than one 1 MiB IDAT chunk.
    var rng = RandomSource(seed: 11)
    let (w, h) = (700, 600)
    let pixels = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    let chunks = parsePNG(encodePNG(width: w, height: h, channels: 3, pixels: pixels))
    #expect(chunks.filter { $0.type == "IDAT" }.count >= 2)
    let expected = filteredScanlines(pixels, rowBytes: w * 3)
    #expect(inflateIDAT(chunks, expectedSize: expected.count) == expected)
}

@Test func gridLayoutAndPixelValues() {
    // 7 grey images of 4 x 5 (H x W), 3 per row: 3 rows, last one with a single image.
    let (n, h, w) = (7, 4, 5)
    var scalars = [Float](repeating: 0, count: n * h * w)
    for i in 0..<n { for y in 0..<h { for x in 0..<w { scalars[(i * h + y) * w + x] = Float(i) / 6 * 2 - 1 } } }
    scalars[(1 * h + 2) * w + 3] = 5      // clamped to 255
    scalars[(2 * h + 0) * w + 0] = -3     // clamped to 0
    scalars[(3 * h + 1) * w + 1] = .nan   // 0
    scalars[(4 * h + 3) * w + 4] = 0      // mid-range: 127.5 rounds to 128
    let images = Tensor<Float>(shape: [n, 1, h, w], scalars: scalars)
    let grid = imageGrid(images, columns: 3, padding: 2, range: -1...1)
    #expect(grid.channels == 1)
    #expect(grid.width == 3 * (w + 2) + 2)   // 23
    #expect(grid.height == 3 * (h + 2) + 2)  // 20
    #expect(grid.pixels.count == grid.width * grid.height)

    func pixel(_ x: Int, _ y: Int) -> UInt8 { grid.pixels[y * grid.width + x] }
    func tile(_ i: Int, _ y: Int, _ x: Int) -> UInt8 { pixel(2 + (i % 3) * (w + 2) + x, 2 + (i / 3) * (h + 2) + y) }
    #expect(tile(0, 0, 0) == 0)       // image 0 is -1 -> 0
    #expect(tile(6, 3, 4) == 255)     // image 6 is +1 -> 255
    #expect(tile(3, 0, 0) == 128)     // image 3 is 0 -> 127.5 -> 128
    #expect(tile(1, 0, 0) == 43)      // -2/3 -> 42.5 -> 43
    #expect(tile(1, 2, 3) == 255)
    #expect(tile(2, 0, 0) == 0)
    #expect(tile(3, 1, 1) == 0)
    #expect(tile(4, 3, 4) == 128)
    // Padding: border, between tiles, and the two empty slots of the last row are mid-grey.
    #expect(pixel(0, 0) == 128 && pixel(1, 5) == 128 && pixel(22, 19) == 128)
    #expect(pixel(2 + w, 2) == 128)            // between tiles 0 and 1
    #expect(pixel(2, 2 + h) == 128)            // between rows
    #expect(tile(7, 0, 0) == 128 && tile(8, 3, 4) == 128)

    // Fewer images than columns: the grid is only as wide as the images.
    let narrow = imageGrid(Tensor<Float>.zeros([2, 3, 4, 5]), columns: 8, padding: 1, range: 0...1)
    #expect((narrow.width, narrow.height, narrow.channels) == (2 * 6 + 1, 4 + 2, 3))
    #expect(narrow.pixels.count == narrow.width * narrow.height * 3)
}

@Test func gridRGBInterleavesChannels() {
    // One 1 x 2 RGB image: pixel 0 = (0, 0.5, 1), pixel 1 = (1, 0, 0.25); no padding.
    let image = Tensor<Float>(shape: [1, 3, 1, 2], scalars: [0, 1, 0.5, 0, 1, 0.25])
    let grid = imageGrid(image, columns: 4, padding: 0, range: 0...1)
    #expect(grid.width == 2 && grid.height == 1 && grid.channels == 3)
    #expect(grid.pixels == [0, 128, 255, 255, 0, 64])
}

@Test func writePNGAtomically() throws {
    let dir = NSTemporaryDirectory() + "gtnio-png-" + UUID().uuidString
    try createDirectory(dir)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/grid.png"
    let images = Tensor<Float>(shape: [4, 1, 2, 2], scalars: (0..<16).map { Float($0) / 15 })
    try writeImageGrid(images, columns: 2, range: 0...1, to: path)
    let grid = imageGrid(images, columns: 2, range: 0...1)
    #expect(try readFile(path) == encodePNG(width: grid.width, height: grid.height, channels: 1, pixels: grid.pixels))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["grid.png"])
}
