import Dispatch
import Foundation
import GTNTensor

/// Raw unsigned-byte images, still in their files' bytes: record `i` of a segment is `C*H*W` bytes
/// in CHW order at `base + i * stride`. Several segments (CIFAR-10's five training batches) are
/// addressed as one sequence of records; decoding writes straight into the output tensor.
struct ImageRecords {
    struct Segment {
        var bytes: [UInt8]
        var base: Int
        var stride: Int
        var count: Int
    }

    var segments: [Segment]
    var channels: Int
    var height: Int
    var width: Int
    /// The file(s) the records come from, for error messages.
    var file: String

    var count: Int { segments.reduce(0) { $0 + $1.count } }
    var imageShape: [Int] { [channels, height, width] }

    /// Records `range` as normalised floats, [range.count, C, H, W]: `(x / 255 - mean[c]) / std[c]`,
    /// in Float32 like torchvision's ToTensor + Normalize. Split over the cores.
    func decode(_ range: Range<Int>, _ norm: Normalization) -> Tensor<Float> {
        precondition(
            norm.mean.count == channels,
            "ImageRecords.decode: \(channels) channels, normalisation for \(norm.mean.count)")
        let plane = height * width
        let per = channels * plane
        // Segment start positions, to map a record index to (segment, local index).
        var starts: [Int] = []
        var s = 0
        for seg in segments {
            starts.append(s)
            s += seg.count
        }
        let mean = norm.mean
        let std = norm.std
        return Tensor<Float>(shape: [range.count] + imageShape) { out in
            guard let dstBase = out.baseAddress else { return }
            let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, range.count / 512))
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = range.lowerBound + range.count * w / workers
                let hi = range.lowerBound + range.count * (w + 1) / workers
                var i = lo
                var k = 0
                while i < hi {
                    while k + 1 < starts.count && starts[k + 1] <= i { k += 1 }
                    let seg = segments[k]
                    let last = min(hi, starts[k] + seg.count)
                    seg.bytes.withUnsafeBufferPointer { bytes in
                        for r in i..<last {
                            let src = bytes.baseAddress! + seg.base + (r - starts[k]) * seg.stride
                            let dst = dstBase + (r - range.lowerBound) * per
                            for c in 0..<channels {
                                decodePlane(src + c * plane, dst + c * plane, plane, mean[c], std[c])
                            }
                        }
                    }
                    i = last
                }
            }
        }
    }
}

@inline(__always)
private func decodePlane(
    _ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
    _ mean: Float, _ std: Float
) {
    for p in 0..<n {
        dst[p] = (Float(src[p]) / 255 - mean) / std
    }
}
