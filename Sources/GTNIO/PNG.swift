import Foundation
import GTNTensor
import SystemZlib

// A minimal PNG writer (https://www.w3.org/TR/png/): 8 bits per sample, no interlacing, every
// scanline with filter type 0 (None), the image data deflated by zlib's compress2 and split into
// IDAT chunks of at most 1 MiB, chunk CRCs by zlib's crc32.

/// Encodes an 8-bit image as PNG. `pixels` is row-major with interleaved channels
/// (`pixels[(y * width + x) * channels + c]`); `channels` is 1 (grey), 2 (grey + alpha), 3 (RGB) or
/// 4 (RGBA).
public func encodePNG(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
    precondition(
        width > 0 && height > 0 && width <= Int(Int32.max) && height <= Int(Int32.max),
        "encodePNG: width and height must be in 1...\(Int32.max), got \(width) x \(height)")
    let colourType: UInt8
    switch channels {
    case 1: colourType = 0
    case 2: colourType = 4
    case 3: colourType = 2
    case 4: colourType = 6
    default: preconditionFailure("encodePNG: channels must be 1, 2, 3 or 4, got \(channels)")
    }
    let rowBytes = width * channels
    precondition(
        pixels.count == rowBytes * height,
        "encodePNG: \(width) x \(height) x \(channels) needs \(rowBytes * height) bytes, got \(pixels.count)")

    // Scanlines, each preceded by its filter-type byte (0: None).
    var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
    pixels.withUnsafeBufferPointer { src in
        raw.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let to = dst.baseAddress! + y * (rowBytes + 1) + 1
                to.update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
            }
        }
    }
    var compressedSize = compressBound(uLong(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
    let rc = compressed.withUnsafeMutableBufferPointer { dst in
        raw.withUnsafeBufferPointer { src in
            compress2(dst.baseAddress!, &compressedSize, src.baseAddress!, uLong(src.count), Z_DEFAULT_COMPRESSION)
        }
    }
    precondition(rc == Z_OK, "encodePNG: zlib compress2 failed with code \(rc) (out of memory?)")

    var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    var header = [UInt8]()
    appendBigEndian(UInt32(width), to: &header)
    appendBigEndian(UInt32(height), to: &header)
    header += [8, colourType, 0, 0, 0]  // bit depth, colour type, compression, filter, interlace
    appendChunk("IHDR", header[...], to: &png)
    let idatSize = 1 << 20
    var start = 0
    repeat {
        let end = min(start + idatSize, Int(compressedSize))
        appendChunk("IDAT", compressed[start..<end], to: &png)
        start = end
    } while start < Int(compressedSize)
    appendChunk("IEND", [][...], to: &png)
    return png
}

private func appendBigEndian(_ v: UInt32, to bytes: inout [UInt8]) {
    bytes += [
        UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
        UInt8(truncatingIfNeeded: v),
    ]
}

/// Length, type, data, and the CRC-32 of type and data.
private func appendChunk(_ type: String, _ data: ArraySlice<UInt8>, to png: inout Data) {
    var chunk = [UInt8]()
    chunk.reserveCapacity(data.count + 12)
    appendBigEndian(UInt32(data.count), to: &chunk)
    chunk += Array(type.utf8)
    chunk += data
    let crc = chunk.withUnsafeBufferPointer { buf in
        crc32(0, buf.baseAddress! + 4, uInt(buf.count - 4))
    }
    appendBigEndian(UInt32(crc), to: &chunk)
    png.append(contentsOf: chunk)
}

/// Tiles a batch of images `[N, C, H, W]` (C = 1 for grey, 3 for RGB) into one image: row-major,
/// `min(columns, N)` tiles per row, as many rows as needed, `padding` pixels between tiles and
/// around the border (as torchvision's `make_grid` does). Padding, and the empty tiles at the end
/// of an incomplete last row, are mid-grey (`paddingValue`, 128 by default): it separates tiles
/// whether their backgrounds are dark or light.
///
/// Values map linearly from `range` to 0...255 (`range.lowerBound` -> 0, `range.upperBound` ->
/// 255), rounded to nearest and clamped; NaN maps to 0. The result is ready for `encodePNG`.
public func imageGrid(
    _ images: Tensor<Float>, columns: Int, padding: Int = 2, range: ClosedRange<Float>,
    paddingValue: UInt8 = 128
)
    -> (width: Int, height: Int, channels: Int, pixels: [UInt8])
{
    precondition(images.rank == 4, "imageGrid: expected images of shape [N, C, H, W], got \(images.shape)")
    let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    precondition(n > 0 && h > 0 && w > 0, "imageGrid: no pixels to show in a batch of shape \(images.shape)")
    precondition(
        c == 1 || c == 3, "imageGrid: images must have 1 (grey) or 3 (RGB) channels, got \(c) (shape \(images.shape))")
    precondition(columns > 0, "imageGrid: columns must be positive, got \(columns)")
    precondition(padding >= 0, "imageGrid: padding must be non-negative, got \(padding)")
    precondition(
        range.upperBound > range.lowerBound && range.lowerBound.isFinite && range.upperBound.isFinite,
        "imageGrid: range must be finite and non-empty, got \(range)")

    let cols = min(columns, n)
    let rows = (n + cols - 1) / cols
    let width = cols * (w + padding) + padding
    let height = rows * (h + padding) + padding
    var pixels = [UInt8](repeating: paddingValue, count: width * height * c)
    let scale = 255 / (range.upperBound - range.lowerBound)
    let low = range.lowerBound

    images.scalars.withUnsafeBufferPointer { src in
        pixels.withUnsafeMutableBufferPointer { dst in
            for i in 0..<n {
                let x0 = padding + (i % cols) * (w + padding)
                let y0 = padding + (i / cols) * (h + padding)
                for ch in 0..<c {
                    let plane = (i * c + ch) * h * w
                    for y in 0..<h {
                        let rowOut = ((y0 + y) * width + x0) * c + ch
                        for x in 0..<w {
                            let v = (src[plane + y * w + x] - low) * scale
                            let byte: UInt8 = v >= 255 ? 255 : (v > 0 ? UInt8((v + 0.5).rounded(.down)) : 0)
                            dst[rowOut + x * c] = byte
                        }
                    }
                }
            }
        }
    }
    return (width, height, c, pixels)
}

/// Encodes an image as PNG (see `encodePNG`) and writes it atomically.
public func writePNG(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
    try writeAtomically(encodePNG(width: width, height: height, channels: channels, pixels: pixels), to: path)
}

/// Tiles `images` with `imageGrid` and writes the grid as a PNG, atomically.
public func writeImageGrid(
    _ images: Tensor<Float>, columns: Int, padding: Int = 2, range: ClosedRange<Float>,
    to path: String
) throws {
    let grid = imageGrid(images, columns: columns, padding: padding, range: range)
    try writePNG(path: path, width: grid.width, height: grid.height, channels: grid.channels, pixels: grid.pixels)
}
