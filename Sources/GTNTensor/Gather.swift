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
    /// When every output plane p reads its source plane with the same offsets (padding,
    /// upsampling: maps that depend only on the shape), those offsets, one plane's worth. The
    /// kernels then read this small array, which stays in cache, instead of `indices`, which is
    /// as large as the output (29 MB for the generator's [128, 64, 30, 30] padding).
    public let planePattern: [Int32]?

    public init(
        sourceShape: [Int], outputShape: [Int], indices: [Int32], independentPlanes: Int = 1,
        planePattern: [Int32]? = nil
    ) {
        precondition(
            independentPlanes >= 1 && sourceShape.reduce(1, *) % independentPlanes == 0
                && outputShape.reduce(1, *) % independentPlanes == 0,
            "GatherMap: \(independentPlanes) planes do not divide shapes \(sourceShape) and \(outputShape)")
        self.independentPlanes = independentPlanes
        precondition(
            indices.count == outputShape.reduce(1, *),
            "GatherMap: \(indices.count) indices for output shape \(outputShape)")
        precondition(sourceShape.reduce(1, *) < Int(Int32.max), "GatherMap: source \(sourceShape) too large")
        self.sourceShape = sourceShape
        self.outputShape = outputShape
        self.indices = indices
        if let planePattern {
            precondition(
                independentPlanes > 1 && planePattern.count * independentPlanes == indices.count,
                "GatherMap: a plane pattern of \(planePattern.count) for \(independentPlanes) planes of \(outputShape)")
        }
        self.planePattern = planePattern
    }

    /// Builds a map over NCHW planes: `source(h, w)` gives the input (row, column) that output
    /// (h, w) reads, or nil for a zero.
    public static func planes(
        _ shape: [Int], outH: Int, outW: Int,
        _ source: (Int, Int) -> (Int, Int)?
    ) -> GatherMap {
        precondition(shape.count == 4, "expected an NCHW shape, got \(shape)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        var plane = [Int32](repeating: -1, count: outH * outW)
        for r in 0..<outH {
            for c in 0..<outW { if let (i, j) = source(r, c) { plane[r * outW + c] = Int32(i * w + j) } }
        }
        var idx = [Int32](repeating: 0, count: planes * outH * outW)
        for p in 0..<planes {
            let base = Int32(p * h * w)
            for k in 0..<plane.count { idx[p * plane.count + k] = plane[k] < 0 ? -1 : plane[k] + base }
        }
        return GatherMap(
            sourceShape: shape, outputShape: [shape[0], shape[1], outH, outW], indices: idx, independentPlanes: planes,
            planePattern: planes > 1 ? plane : nil)
    }

    /// The table the kernels read: the plane pattern, whose offsets are relative to each plane's
    /// start and the same for every plane (`relative`), or the absolute `indices`.
    var offsets: (table: [Int32], relative: Bool) { planePattern.map { ($0, true) } ?? (indices, false) }

    /// This map followed by `next` (which reads this map's output), as one map: one gather
    /// instead of two, and one scatter-add in the adjoint.
    public func then(_ next: GatherMap) -> GatherMap {
        precondition(
            next.sourceShape == outputShape, "GatherMap.then: \(next.sourceShape) does not read output \(outputShape)")
        let idx = next.indices.map { $0 < 0 ? -1 : indices[Int($0)] }
        // Output plane p of the whole reads source plane p wherever both maps keep planes apart.
        let planes = independentPlanes == next.independentPlanes ? independentPlanes : 1
        var pattern: [Int32]? = nil
        if planes > 1, let first = planePattern, let second = next.planePattern {
            pattern = second.map { $0 < 0 ? -1 : first[Int($0)] }
        }
        return GatherMap(
            sourceShape: sourceShape, outputShape: next.outputShape, indices: idx, independentPlanes: planes,
            planePattern: pattern)
    }

    /// Maps that depend only on a shape are built once and reused: building the index array
    /// costs as much as the gather itself, and the generator asks for the same ones every step.
    static let cache = Mutex<[String: GatherMap]>([:])

    static func cached(_ key: String, _ make: () -> GatherMap) -> GatherMap {
        if let m = cache.withLock({ $0[key] }) { return m }
        let m = make()
        cache.withLock {
            if $0.count > 256 { $0.removeAll() }
            $0[key] = m
        }
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
        return cached("zeroPad \(shape) \(pad)") {
            planes(shape, outH: h + 2 * pad, outW: w + 2 * pad) { r, c in
                let (i, j) = (r - pad, c - pad)
                return i >= 0 && i < h && j >= 0 && j < w ? (i, j) : nil
            }
        }
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
        precondition(
            axis >= 0 && axis < shape.count && range.lowerBound >= 0 && range.upperBound <= shape[axis],
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
        let outer = whole[..<axis].reduce(1, *)
        let inner = whole[(axis + 1)...].reduce(1, *)
        let (np, nw) = (part[axis], whole[axis])
        if reading {
            var idx = [Int32](repeating: 0, count: outer * np * inner)
            for o in 0..<outer {
                for a in 0..<np {
                    for i in 0..<inner {
                        idx[(o * np + a) * inner + i] = Int32((o * nw + a + offset) * inner + i)
                    }
                }
            }
            return GatherMap(sourceShape: whole, outputShape: part, indices: idx)
        }
        var idx = [Int32](repeating: -1, count: outer * nw * inner)
        for o in 0..<outer {
            for a in 0..<np {
                for i in 0..<inner {
                    idx[(o * nw + a + offset) * inner + i] = Int32((o * np + a) * inner + i)
                }
            }
        }
        return GatherMap(sourceShape: part, outputShape: whole, indices: idx)
    }

    /// Maps that place each of `shapes` into their concatenation along `axis`.
    public static func concatenation(_ shapes: [[Int]], axis: Int) -> [GatherMap] {
        precondition(!shapes.isEmpty, "concat: nothing to concatenate")
        var whole = shapes[0]
        for s in shapes.dropFirst() {
            precondition(
                s.count == whole.count && (0..<s.count).allSatisfy { $0 == axis || s[$0] == whole[$0] },
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
    public static func maxPool<S: TensorScalar>(_ x: Tensor<S>, kernel: Int, stride: Int, padding: Int) -> GatherMap {
        maxPooled(x, kernel: kernel, stride: stride, padding: padding, values: false).map
    }

    /// Max pooling's map and the pooled values, `x.gathered(map)`. Float32's 3x3 stride-2 kernel
    /// (every learner's pooling) finds each window's maximum with its index, so that gather is
    /// not a second pass over the input.
    public static func maxPooled<S: TensorScalar>(_ x: Tensor<S>, kernel: Int, stride: Int, padding: Int)
        -> (map: GatherMap, values: Tensor<S>)
    {
        let (map, values) = maxPooled(x, kernel: kernel, stride: stride, padding: padding, values: true)
        return (map, values ?? x.gathered(map))
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    static func maxPooled<S: TensorScalar>(_ x: Tensor<S>, kernel: Int, stride: Int, padding: Int, values: Bool)
        -> (map: GatherMap, values: Tensor<S>?)
    {
        precondition(x.rank == 4, "maxPool: input must be NCHW, got shape \(x.shape)")
        precondition(
            kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel,
            "maxPool: kernel \(kernel), stride \(stride), padding \(padding) (padding at most half the kernel)")
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * padding - kernel) / stride + 1
        let ow = (w + 2 * padding - kernel) / stride + 1
        precondition(oh >= 1 && ow >= 1, "maxPool: kernel \(kernel) does not fit input \(x.shape)")
        let outputShape = [x.shape[0], x.shape[1], oh, ow]
        var idx = [Int32](repeating: 0, count: planes * oh * ow)
        if S.self == Float.self && kernel == 3 && (stride == 1 || stride == 2) {
            var pooled = values ? [S](repeating: 0, count: idx.count) : []
            x.scalars.withUnsafeBufferPointer { p in
                idx.withUnsafeMutableBufferPointer { out in
                    pooled.withUnsafeMutableBufferPointer { v in
                        let (p, out) = (
                            UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: Float.self), out.baseAddress!
                        )
                        // (An empty array's buffer may still have a base address.)
                        let v =
                            values
                            ? v.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float.self) }
                            : nil
                        parallelChunks(planes, grain: 64) { r in
                            MaxPool3x3.pool(
                                p, planes: r, h: h, w: w, step: stride, padding: padding, out: out, values: v)
                        }
                    }
                }
            }
            let map = GatherMap(sourceShape: x.shape, outputShape: outputShape, indices: idx, independentPlanes: planes)
            return (map, values ? Tensor(shape: outputShape, scalars: pooled) : nil)
        }
        // Separable: the largest of each row's window columns first (value and column), then the
        // largest of those down the window rows. Taking the first of equal values in each pass
        // keeps the row-major first maximum of the whole window, as one pass over it would; the
        // two short loops run about 3x faster than the k x k window loop with its bounds.
        let cols = (0..<ow).map { j in Swift.max(0, j * stride - padding)..<Swift.min(w, j * stride - padding + kernel)
        }
        let rows = (0..<oh).map { i in Swift.max(0, i * stride - padding)..<Swift.min(h, i * stride - padding + kernel)
        }
        x.scalars.withUnsafeBufferPointer { p in
            idx.withUnsafeMutableBufferPointer { out in
                let (p, out) = (p.baseAddress!, out.baseAddress!)
                parallelChunks(planes, grain: 64) { r in
                    let rowMax = UnsafeMutablePointer<S>.allocate(capacity: h * ow)
                    let rowArg = UnsafeMutablePointer<Int32>.allocate(capacity: h * ow)
                    defer {
                        rowMax.deallocate()
                        rowArg.deallocate()
                    }
                    for pl in r {
                        let base = pl * h * w
                        for a in 0..<h {
                            let src = p + base + a * w
                            let rm = rowMax + a * ow
                            let ra = rowArg + a * ow
                            for j in 0..<ow {
                                let (best, bestV) = windowMax(kernel, cols[j]) { src[$0] }
                                rm[j] = bestV
                                ra[j] = Int32(base + a * w + best)
                            }
                        }
                        for i in 0..<oh {
                            let dst = out + (pl * oh + i) * ow
                            for j in 0..<ow {
                                let (best, _) = windowMax(kernel, rows[i]) { rowMax[$0 * ow + j] }
                                dst[j] = rowArg[best * ow + j]
                            }
                        }
                    }
                }
            }
        }
        let map = GatherMap(sourceShape: x.shape, outputShape: outputShape, indices: idx, independentPlanes: planes)
        return (map, nil)
    }
}

/// The first position of the largest value in `window` (positions read through `value`). Full
/// windows of 3, the pooling every model here uses, take a straight-line path of selects: the
/// general loop's data-dependent branch is mispredicted about every other window on real
/// activations, and it was the costliest instruction of max pooling in `perf annotate`.
@inline(__always)
func windowMax<S: TensorScalar>(_ kernel: Int, _ window: Range<Int>, _ value: (Int) -> S) -> (Int, S) {
    let lo = window.lowerBound
    if kernel == 3 && window.count == 3 {
        let v0 = value(lo)
        let v1 = value(lo + 1)
        let v2 = value(lo + 2)
        let first = v1 > v0
        var best = first ? lo + 1 : lo
        var bestV = first ? v1 : v0
        let second = v2 > bestV
        best = second ? lo + 2 : best
        bestV = second ? v2 : bestV
        return (best, bestV)
    }
    var best = lo
    var bestV = value(lo)
    for b in (lo + 1)..<window.upperBound where value(b) > bestV {
        best = b
        bestV = value(b)
    }
    return (best, bestV)
}

/// Max pooling's arg-max (and maximum) for 3x3 windows at stride 2 (every learner's pooling) or
/// 1 (the NAS cells' max3x3 op) in Float32, in vector code: each row's windows eight at a time (at
/// stride 2 a window's left, middle and right taps are the even and odd lanes of two 16-wide
/// loads; at stride 1 three 8-wide loads one apart), then the rows' maxima down each window,
/// eight output columns at a time.
///
/// Padding is never compared as such: a window's taps that fall outside the plane are replaced by
/// the nearest column (row) inside it, with that column's (row's) index. A repeated tap never wins
/// a strict comparison against itself, so the choice is the scalar path's, ties included (the
/// first maximum in row-major order: left before right, top before bottom), and no window needs
/// the scalar edge code that had made this pass ~7 ms for [128, 64, 28, 28] (3.6 GB/s; the
/// learner's planes are small, so edges were a third of the windows).
enum MaxPool3x3 {
    /// Pools `planes` of an [planes, h, w] source whose plane `pl` starts at
    /// `p + (pl - firstPlane) * h * w` (so a caller can hand over a few planes held in scratch);
    /// indices and outputs are those of the whole source.
    static func pool(
        _ p: UnsafePointer<Float>, planes: Range<Int>, firstPlane: Int = 0, h: Int, w: Int, step: Int,
        padding: Int, out: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>?
    ) {
        precondition(step == 1 || step == 2, "MaxPool3x3: stride \(step)")
        let (oh, ow) = ((h + 2 * padding - 3) / step + 1, (w + 2 * padding - 3) / step + 1)
        // The padded row: position q is column clamp(q - padding); windows read q = step j ... step j + 2.
        // Sized so that every load of the last group of eight windows stays inside.
        let groups = (ow + 7) / 8
        let padded = 8 * step * groups + 2
        // The whole plane is copied before any window reads it: a 16-wide load right after the
        // copy's stores to the same bytes could not take its data from them (a store-forwarding
        // stall per load, measured: the row-by-row copy left this pass at ~6.4 ms).
        let paddedPlane = UnsafeMutablePointer<Float>.allocate(capacity: h * padded)
        let column = UnsafeMutablePointer<Int32>.allocate(capacity: padded)
        for q in 0..<padded { column[q] = Int32(Swift.min(Swift.max(q - padding, 0), w - 1)) }
        // Row maxima and their indices, `stride` apart: whole groups of eight, so stores need no tail.
        let stride = 8 * groups
        let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: h * stride)
        let rowArg = UnsafeMutablePointer<Int32>.allocate(capacity: h * stride)
        // One plane's output, rows `stride` apart.
        let planeMax = UnsafeMutablePointer<Float>.allocate(capacity: oh * stride)
        let planeArg = UnsafeMutablePointer<Int32>.allocate(capacity: oh * stride)
        defer {
            planeMax.deallocate()
            planeArg.deallocate()
            paddedPlane.deallocate()
            column.deallocate()
            rowMax.deallocate()
            rowArg.deallocate()
        }
        let tail = Swift.min(padded, padding + w)
        for pl in planes {
            let base = pl &* h &* w
            for a in 0..<h {
                let src = p + ((pl &- firstPlane) &* h &* w &+ a &* w)
                let row = paddedPlane + a &* padded
                // Rows are short (28 scalars in the learner), so the copy is inline vector code:
                // memmove and memset calls for 28 and 1 scalars had cost more than the pooling.
                copyScalars(src, count: w, into: row + padding)
                for q in 0..<padding { row[q] = src[0] }
                for q in tail..<padded { row[q] = src[w &- 1] }
            }
            for a in 0..<h {
                let row = paddedPlane + a &* padded
                let rowBase = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: base &+ a &* w))
                let rm = rowMax + a &* stride
                let ra = rowArg + a &* stride
                for g in 0..<groups {
                    // The windows' left, middle and right taps, with their columns' indices as Float
                    // bit patterns (blended like the values; see the vertical pass).
                    var best: SIMD8<Float>
                    var arg: SIMD8<Float>
                    let middle: SIMD8<Float>
                    let middleCols: SIMD8<Float>
                    let right: SIMD8<Float>
                    let rightCols: SIMD8<Float>
                    if step == 2 {
                        let q = 16 &* g
                        let taps = UnsafeRawPointer(row + q).loadUnaligned(as: SIMD16<Float>.self)
                        let cols = UnsafeRawPointer(column + q).loadUnaligned(as: SIMD16<Float>.self)
                        (best, arg, middle, middleCols) = (taps.evenHalf, cols.evenHalf, taps.oddHalf, cols.oddHalf)
                        right = UnsafeRawPointer(row + (q &+ 2)).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                        rightCols = UnsafeRawPointer(column + (q &+ 2)).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                    } else {
                        let q = 8 &* g
                        @inline(__always) func taps(_ k: Int) -> SIMD8<Float> {
                            UnsafeRawPointer(row + (q &+ k)).loadUnaligned(as: SIMD8<Float>.self)
                        }
                        @inline(__always) func cols(_ k: Int) -> SIMD8<Float> {
                            UnsafeRawPointer(column + (q &+ k)).loadUnaligned(as: SIMD8<Float>.self)
                        }
                        (best, arg, middle, middleCols, right, rightCols) = (
                            taps(0), cols(0), taps(1), cols(1), taps(2), cols(2)
                        )
                    }
                    let m1 = middle .> best
                    best.replace(with: middle, where: m1)
                    arg.replace(with: middleCols, where: m1)
                    let m2 = right .> best
                    best.replace(with: right, where: m2)
                    arg.replace(with: rightCols, where: m2)
                    UnsafeMutableRawPointer(rm + 8 &* g).storeBytes(of: best, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(ra + 8 &* g).storeBytes(
                        of: unsafeBitCast(arg, to: SIMD8<Int32>.self) &+ rowBase, as: SIMD8<Int32>.self)
                }
            }
            for i in 0..<oh {
                // The window's rows, clamped into the plane like the columns above.
                let top = step &* i &- padding
                let r0 = Swift.max(top, 0) &* stride
                let r1 = Swift.min(Swift.max(top &+ 1, 0), h &- 1) &* stride
                let r2 = Swift.min(top &+ 2, h &- 1) &* stride
                let o = i &* stride
                for j in Swift.stride(from: 0, to: stride, by: 8) {
                    // Indices ride along as Float bit patterns: blends move bits unchanged, and
                    // Int32 lanes chosen by a Float comparison's mask had compiled to a branch per lane.
                    @inline(__always) func value(_ r: Int) -> SIMD8<Float> {
                        UnsafeRawPointer(rowMax + (r &+ j)).loadUnaligned(as: SIMD8<Float>.self)
                    }
                    @inline(__always) func index(_ r: Int) -> SIMD8<Float> {
                        UnsafeRawPointer(rowArg + (r &+ j)).loadUnaligned(as: SIMD8<Float>.self)
                    }
                    var (best, arg) = (value(r0), index(r0))
                    let (v1, a1, v2, a2) = (value(r1), index(r1), value(r2), index(r2))
                    let m1 = v1 .> best
                    best.replace(with: v1, where: m1)
                    arg.replace(with: a1, where: m1)
                    let m2 = v2 .> best
                    best.replace(with: v2, where: m2)
                    arg.replace(with: a2, where: m2)
                    UnsafeMutableRawPointer(planeMax + (o &+ j)).storeBytes(of: best, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(planeArg + (o &+ j)).storeBytes(of: arg, as: SIMD8<Float>.self)
                }
            }
            // Whole rows of `ow` out of the `stride`-wide scratch rows (vector stores need no tail).
            for i in 0..<oh {
                (out + (pl &* oh &+ i) &* ow).update(from: planeArg + i &* stride, count: ow)
                if let values { (values + (pl &* oh &+ i) &* ow).update(from: planeMax + i &* stride, count: ow) }
            }
        }
    }
}

extension GatherMap {
    /// The scatter-add of output planes `planes` (of a map with independent planes): each source
    /// plane is zeroed, then the values of its output plane in `src` (the whole output) are added
    /// where the map reads them. The source planes start at `dst`, plane `planes.lowerBound`
    /// first, so a caller can scatter a few planes into scratch (`table` is `offsets`' array).
    @inline(__always)
    func scatterPlanes<S: TensorScalar>(
        _ planes: Range<Int>, table: (UnsafePointer<Int32>, relative: Bool), from src: UnsafePointer<S>,
        into dst: UnsafeMutablePointer<S>
    ) {
        let perPlane = indices.count / independentPlanes
        let sourcePerPlane = sourceShape.reduce(1, *) / independentPlanes
        for plane in planes {
            // Each plane is zeroed just before it is added into, while it is in cache: zeroing the
            // whole output first (25 MB for the learner's first max pooling) and scattering after
            // would stream it from memory twice.
            let d = dst + (plane - planes.lowerBound) * sourcePerPlane
            d.initialize(repeating: 0, count: sourcePerPlane)
            // Absolute indices of plane p all fall in source plane p (independent planes).
            let (origin, offsets) = table.relative ? (0, table.0) : (plane * sourcePerPlane, table.0 + plane * perPlane)
            let s = src + plane * perPlane
            for i in 0..<perPlane {
                let j = Int(offsets[i])
                if j >= 0 { d[j - origin] += s[i] }
            }
        }
    }
}

extension Tensor {
    /// out[i] = self[map.indices[i]] (0 where the index is -1).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func gathered(_ map: GatherMap) -> Tensor {
        precondition(shape == map.sourceShape, "gather: tensor of shape \(shape), map expects \(map.sourceShape)")
        let planes = map.independentPlanes
        let (perPlane, sourcePerPlane) = (map.indices.count / planes, count / planes)
        let (table, relative) = map.offsets
        return Tensor(shape: map.outputShape) { out in
            scalars.withUnsafeBufferPointer { p in
                table.withUnsafeBufferPointer { idx in
                    let out = out
                    parallelChunks(planes, grain: Swift.max(1, (1 << 16) / Swift.max(perPlane, 1))) { r in
                        for plane in r {
                            let (src, offsets) =
                                relative
                                ? (p.baseAddress! + plane * sourcePerPlane, idx.baseAddress!)
                                : (p.baseAddress!, idx.baseAddress! + plane * perPlane)
                            let dst = out.baseAddress! + plane * perPlane
                            for i in 0..<perPlane {
                                let j = Int(offsets[i])
                                dst[i] = j < 0 ? 0 : src[j]
                            }
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
        let planes = map.independentPlanes
        let perPlane = count / planes
        let sourceCount = map.sourceShape.reduce(1, *)
        let sourcePerPlane = sourceCount / planes
        let out = [S](unsafeUninitializedCapacity: sourceCount) { o, initialised in
            let o = o
            scalars.withUnsafeBufferPointer { p in
                let (table, relative) = map.offsets
                table.withUnsafeBufferPointer { idx in
                    // Workers take whole planes, so no two of them ever add into one element.
                    parallelChunks(planes, grain: Swift.max(1, (1 << 16) / Swift.max(perPlane, 1))) { r in
                        map.scatterPlanes(
                            r, table: (idx.baseAddress!, relative), from: p.baseAddress!,
                            into: o.baseAddress! + r.lowerBound * sourcePerPlane)
                    }
                }
            }
            initialised = sourceCount
        }
        return Tensor(shape: map.sourceShape, scalars: out)
    }
}
