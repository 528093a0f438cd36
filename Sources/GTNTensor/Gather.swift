import Synchronization

/// A fixed re-indexing of a tensor: output element i reads source element `indices[i]`, or 0 when
/// the index is -1. Padding (zero or reflective), nearest upsampling, slicing, concatenation and
/// max pooling are all gathers, so one pair of kernels (gather and its adjoint, scatter-add) and
/// one pair of derivative rules serve them all.
public struct GatherMap: Sendable {
    public let sourceShape: [Int]
    public let outputShape: [Int]
    public let indices: [Int32]
    /// When > 1: source and output split into this many equal planes, and output plane p reads
    /// only source plane p (true of every per-image, per-channel map), so the adjoint can
    /// scatter plane by plane in parallel without two workers writing one element.
    public let independentPlanes: Int

    public init(sourceShape: [Int], outputShape: [Int], indices: [Int32], independentPlanes: Int = 1) {
        precondition(independentPlanes >= 1 && sourceShape.reduce(1, *) % independentPlanes == 0
                     && outputShape.reduce(1, *) % independentPlanes == 0,
                     "GatherMap: \(independentPlanes) planes do not divide shapes \(sourceShape) and \(outputShape)")
        self.independentPlanes = independentPlanes
        precondition(indices.count == outputShape.reduce(1, *),
                     "GatherMap: \(indices.count) indices for output shape \(outputShape)")
        precondition(sourceShape.reduce(1, *) < Int(Int32.max), "GatherMap: source \(sourceShape) too large")
        self.sourceShape = sourceShape
        self.outputShape = outputShape
        self.indices = indices
    }

    /// Builds a map over NCHW planes: `source(h, w)` gives the input (row, column) that output
    /// (h, w) reads, or nil for a zero.
    public static func planes(_ shape: [Int], outH: Int, outW: Int,
                              _ source: (Int, Int) -> (Int, Int)?) -> GatherMap {
        precondition(shape.count == 4, "expected an NCHW shape, got \(shape)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        var plane = [Int32](repeating: -1, count: outH * outW)
        for r in 0..<outH { for c in 0..<outW { if let (i, j) = source(r, c) { plane[r * outW + c] = Int32(i * w + j) } } }
        var idx = [Int32](repeating: 0, count: planes * outH * outW)
        for p in 0..<planes {
            let base = Int32(p * h * w)
            for k in 0..<plane.count { idx[p * plane.count + k] = plane[k] < 0 ? -1 : plane[k] + base }
        }
        return GatherMap(sourceShape: shape, outputShape: [shape[0], shape[1], outH, outW], indices: idx, independentPlanes: planes)
    }

    /// This map followed by `next` (which reads this map's output), as one map: one gather
    /// instead of two, and one scatter-add in the adjoint.
    public func then(_ next: GatherMap) -> GatherMap {
        precondition(next.sourceShape == outputShape, "GatherMap.then: \(next.sourceShape) does not read output \(outputShape)")
        let idx = next.indices.map { $0 < 0 ? -1 : indices[Int($0)] }
        // Output plane p of the whole reads source plane p wherever both maps keep planes apart.
        let planes = independentPlanes == next.independentPlanes ? independentPlanes : 1
        return GatherMap(sourceShape: sourceShape, outputShape: next.outputShape, indices: idx, independentPlanes: planes)
    }

    /// Maps that depend only on a shape are built once and reused: building the index array
    /// costs as much as the gather itself, and the generator asks for the same ones every step.
    static let cache = Mutex<[String: GatherMap]>([:])

    static func cached(_ key: String, _ make: () -> GatherMap) -> GatherMap {
        if let m = cache.withLock({ $0[key] }) { return m }
        let m = make()
        cache.withLock { if $0.count > 256 { $0.removeAll() }; $0[key] = m }
        return m
    }

    /// Nearest-neighbour upsampling by an integer factor.
    public static func upsampleNearest(_ shape: [Int], factor: Int) -> GatherMap {
        cached("upsample \(shape) \(factor)") {
            planes(shape, outH: shape[2] * factor, outW: shape[3] * factor) { ($0 / factor, $1 / factor) }
        }
    }

    /// Zero padding of `pad` pixels on every side.
    public static func zeroPad(_ shape: [Int], pad: Int) -> GatherMap {
        let (h, w) = (shape[2], shape[3])
        return cached("zeroPad \(shape) \(pad)") { planes(shape, outH: h + 2 * pad, outW: w + 2 * pad) { r, c in
            let (i, j) = (r - pad, c - pad)
            return i >= 0 && i < h && j >= 0 && j < w ? (i, j) : nil
        } }
    }

    /// Nearest upsampling by `factor`, then reflection padding of `pad` pixels (the generator's
    /// layers), as one map.
    public static func upsampleNearestReflectionPad(_ shape: [Int], factor: Int, pad: Int) -> GatherMap {
        cached("upsample \(shape) \(factor) reflectionPad \(pad)") {
            let up = upsampleNearest(shape, factor: factor)
            return up.then(reflectionPad(up.outputShape, pad: pad))
        }
    }

    /// Reflection padding (the edge pixel is not repeated), as PyTorch's ReflectionPad2d.
    public static func reflectionPad(_ shape: [Int], pad: Int) -> GatherMap {
        let (h, w) = (shape[2], shape[3])
        precondition(pad < h && pad < w, "reflectionPad: padding \(pad) must be smaller than the plane \(h)x\(w)")
        func reflect(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i) }
        return cached("reflectionPad \(shape) \(pad)") {
            planes(shape, outH: h + 2 * pad, outW: w + 2 * pad) { r, c in (reflect(r - pad, h), reflect(c - pad, w)) }
        }
    }

    /// The sub-range `range` of `axis`.
    public static func slice(_ shape: [Int], axis: Int, range: Range<Int>) -> GatherMap {
        precondition(axis >= 0 && axis < shape.count && range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice: range \(range) of axis \(axis) is outside shape \(shape)")
        var out = shape
        out[axis] = range.count
        return cached("slice \(shape) \(axis) \(range)") {
            placement(of: out, in: shape, axis: axis, offset: range.lowerBound, reading: true)
        }
    }

    /// Where a tensor of shape `part` sits inside `whole`, offset by `offset` along `axis`.
    /// `reading`: a map that reads the part out of the whole (slice); otherwise a map that reads
    /// the whole out of the part, with zeros elsewhere (used to place operands of a concatenation).
    static func placement(of part: [Int], in whole: [Int], axis: Int, offset: Int, reading: Bool) -> GatherMap {
        let outer = whole[..<axis].reduce(1, *), inner = whole[(axis + 1)...].reduce(1, *)
        let (np, nw) = (part[axis], whole[axis])
        if reading {
            var idx = [Int32](repeating: 0, count: outer * np * inner)
            for o in 0..<outer { for a in 0..<np { for i in 0..<inner {
                idx[(o * np + a) * inner + i] = Int32((o * nw + a + offset) * inner + i)
            } } }
            return GatherMap(sourceShape: whole, outputShape: part, indices: idx)
        }
        var idx = [Int32](repeating: -1, count: outer * nw * inner)
        for o in 0..<outer { for a in 0..<np { for i in 0..<inner {
            idx[(o * nw + a + offset) * inner + i] = Int32((o * np + a) * inner + i)
        } } }
        return GatherMap(sourceShape: part, outputShape: whole, indices: idx)
    }

    /// Maps that place each of `shapes` into their concatenation along `axis`.
    public static func concatenation(_ shapes: [[Int]], axis: Int) -> [GatherMap] {
        precondition(!shapes.isEmpty, "concat: nothing to concatenate")
        var whole = shapes[0]
        for s in shapes.dropFirst() {
            precondition(s.count == whole.count && (0..<s.count).allSatisfy { $0 == axis || s[$0] == whole[$0] },
                         "concat: shapes \(shapes) differ outside axis \(axis)")
            whole[axis] += s[axis]
        }
        var offset = 0
        return shapes.map { s in
            defer { offset += s[axis] }
            return cached("place \(s) \(whole) \(axis) \(offset)") {
                placement(of: s, in: whole, axis: axis, offset: offset, reading: false)
            }
        }
    }

    /// Max pooling: for every window, the index of its largest input (padding never wins).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func maxPool<S: TensorScalar>(_ x: Tensor<S>, kernel: Int, stride: Int, padding: Int) -> GatherMap {
        precondition(x.rank == 4, "maxPool: input must be NCHW, got shape \(x.shape)")
        precondition(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel,
                     "maxPool: kernel \(kernel), stride \(stride), padding \(padding) (padding at most half the kernel)")
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        precondition(oh >= 1 && ow >= 1, "maxPool: kernel \(kernel) does not fit input \(x.shape)")
        var idx = [Int32](repeating: 0, count: planes * oh * ow)
        // Separable: the largest of each row's window columns first (value and column), then the
        // largest of those down the window rows. Taking the first of equal values in each pass
        // keeps the row-major first maximum of the whole window, as one pass over it would; the
        // two short loops run about 3x faster than the k x k window loop with its bounds.
        let cols = (0..<ow).map { j in Swift.max(0, j * stride - padding)..<Swift.min(w, j * stride - padding + kernel) }
        let rows = (0..<oh).map { i in Swift.max(0, i * stride - padding)..<Swift.min(h, i * stride - padding + kernel) }
        x.scalars.withUnsafeBufferPointer { p in
            idx.withUnsafeMutableBufferPointer { out in
                let (p, out) = (p.baseAddress!, out.baseAddress!)
                parallelChunks(planes, grain: 64) { r in
                    let rowMax = UnsafeMutablePointer<S>.allocate(capacity: h * ow)
                    let rowArg = UnsafeMutablePointer<Int32>.allocate(capacity: h * ow)
                    defer { rowMax.deallocate(); rowArg.deallocate() }
                    for pl in r {
                        let base = pl * h * w
                        for a in 0..<h {
                            let src = p + base + a * w
                            for j in 0..<ow {
                                let c = cols[j]
                                var best = c.lowerBound, bestV = src[best]
                                for b in (c.lowerBound + 1)..<c.upperBound where src[b] > bestV { best = b; bestV = src[b] }
                                rowMax[a * ow + j] = bestV
                                rowArg[a * ow + j] = Int32(base + a * w + best)
                            }
                        }
                        for i in 0..<oh {
                            let rr = rows[i]
                            let dst = out + (pl * oh + i) * ow
                            for j in 0..<ow {
                                var best = rr.lowerBound, bestV = rowMax[best * ow + j]
                                for a in (rr.lowerBound + 1)..<rr.upperBound where rowMax[a * ow + j] > bestV {
                                    best = a; bestV = rowMax[a * ow + j]
                                }
                                dst[j] = rowArg[best * ow + j]
                            }
                        }
                    }
                }
            }
        }
        return GatherMap(sourceShape: x.shape, outputShape: [x.shape[0], x.shape[1], oh, ow], indices: idx, independentPlanes: planes)
    }
}

extension Tensor {
    /// out[i] = self[map.indices[i]] (0 where the index is -1).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func gathered(_ map: GatherMap) -> Tensor {
        precondition(shape == map.sourceShape, "gather: tensor of shape \(shape), map expects \(map.sourceShape)")
        let planes = map.independentPlanes, perPlane = map.indices.count / planes
        return Tensor(shape: map.outputShape) { out in
            scalars.withUnsafeBufferPointer { p in
                map.indices.withUnsafeBufferPointer { idx in
                    let out = out
                    parallelChunks(planes, grain: Swift.max(1, (1 << 16) / Swift.max(perPlane, 1))) { r in
                        for i in (r.lowerBound * perPlane)..<(r.upperBound * perPlane) {
                            let j = Int(idx[i]); out[i] = j < 0 ? 0 : p[j]
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `gathered`: out[map.indices[i]] += self[i].
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func scatteredAdd(_ map: GatherMap) -> Tensor {
        precondition(shape == map.outputShape, "scatter: tensor of shape \(shape), map expects \(map.outputShape)")
        var out = [S](repeating: 0, count: map.sourceShape.reduce(1, *))
        let planes = map.independentPlanes, perPlane = count / planes
        scalars.withUnsafeBufferPointer { p in
            map.indices.withUnsafeBufferPointer { idx in
                out.withUnsafeMutableBufferPointer { o in
                    let o = o
                    // Workers take whole planes, so no two of them ever add into one element.
                    parallelChunks(planes, grain: Swift.max(1, (1 << 16) / Swift.max(perPlane, 1))) { r in
                        for i in (r.lowerBound * perPlane)..<(r.upperBound * perPlane) {
                            let j = Int(idx[i]); if j >= 0 { o[j] += p[i] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: map.sourceShape, scalars: out)
    }
}
