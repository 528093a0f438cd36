import Foundation

/// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016) for 3x3, stride-1, ungrouped convolutions.
///
/// Each 2x2 output tile is Y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A, d the 4x4 input tile around it. Summed
/// over input channels, the 16 element-wise products of one tile become 16 matrix products
/// M_ξ = U_ξ V_ξ (U_ξ: O x C transformed weights, V_ξ: C x tiles transformed inputs), which is why
/// this pays: 16 multiplies per tile and channel pair instead of im2col's 36, i.e. 2.25x less gemm
/// work. The transforms themselves only add and subtract (and halve, for G).
///
/// Only the forward map and the weight adjoint are written here. The input adjoint of a stride-1
/// 3x3 layer with padding <= 2 is itself such a convolution (dy with the flipped, channel-swapped
/// kernel; `ConvGeometry.transposedForInputAdjoint`), so it reuses `forward`.
///
/// Work is split over the workers by samples; each worker transforms a chunk of samples into its own
/// scratch (sized to stay in cache), runs 16 single-threaded gemms on it and transforms back.
enum Winograd {
    /// The geometries it computes: 3x3 kernel, stride 1, one group, padding <= 2.
    static func handles(_ g: ConvGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.groups == 1 && g.padding <= 2
    }

    /// Tile columns per gemm: enough samples of a chunk that the 16 gemms are not too thin, few
    /// enough that the transformed chunk stays in cache (measured in `gtn-bench engine --parts conv`).
    static let columnsPerChunk = Int(ProcessInfo.processInfo.environment["GTN_WINOGRAD_COLUMNS"] ?? "") ?? 392

    struct Tiling {
        let g: ConvGeometry
        /// Tiles down and across one output plane (the last may hang over the edge).
        let rows, cols: Int
        var perSample: Int { rows * cols }
        /// Samples per chunk, and a chunk's gemm columns.
        let samples: Int
        var columns: Int { samples * perSample }
        /// The input plane, zero-padded to the 2 * rows + 2 by 2 * cols + 2 patch the tiles read.
        var paddedH: Int { 2 * rows + 2 }
        var paddedW: Int { 2 * cols + 2 }

        /// Scratch of one worker: V (C x 16 x columns), M (O x 16 x columns), a padded plane, and
        /// the row-transformed tiles of one plane.
        var scratchCount: Int { 16 * (g.inChannels + g.outChannels) * columns + paddedH * paddedW + 16 * perSample }

        init(_ g: ConvGeometry) {
            self.g = g
            (rows, cols) = ((g.outHeight + 1) / 2, (g.outWidth + 1) / 2)
            samples = max(1, min(g.batch, Winograd.columnsPerChunk / max(1, (g.outHeight + 1) / 2 * ((g.outWidth + 1) / 2))))
        }
    }

    // MARK: Transforms of one tile, as 1-D maps applied to rows and then to columns.

    /// U = G w Gᵀ for every (o, c): 3x3 -> 4x4, stored [16][O][C] (U_ξ is an O x C matrix).
    @inline(__always)
    static func transformWeights<S: TensorScalar>(_ w: UnsafePointer<S>, o: Int, c: Int, into u: UnsafeMutablePointer<S>) {
        let oc = o * c
        withUnsafeTemporaryAllocation(of: S.self, capacity: 12) { t in  // G w: 4 rows x 3 columns
            for k in 0..<oc {
                let p = w + k * 9
                for j in 0..<3 {
                    let (a, b, d) = (p[j], p[3 + j], p[6 + j])
                    t[j] = a; t[3 + j] = (a + b + d) / 2; t[6 + j] = (a - b + d) / 2; t[9 + j] = d
                }
                for i in 0..<4 {
                    let (a, b, d) = (t[i * 3], t[i * 3 + 1], t[i * 3 + 2])
                    u[(i * 4) * oc + k] = a
                    u[(i * 4 + 1) * oc + k] = (a + b + d) / 2
                    u[(i * 4 + 2) * oc + k] = (a - b + d) / 2
                    u[(i * 4 + 3) * oc + k] = d
                }
            }
        }
    }

    /// dw = Gᵀ dU G for every (o, c): the adjoint of `transformWeights`.
    @inline(__always)
    static func transformWeightsAdjoint<S: TensorScalar>(_ du: UnsafePointer<S>, o: Int, c: Int, into dw: UnsafeMutablePointer<S>) {
        let oc = o * c
        withUnsafeTemporaryAllocation(of: S.self, capacity: 12) { t in  // dU G: 4 rows x 3 columns
            for k in 0..<oc {
                for i in 0..<4 {
                    let (a, b, d, e) = (du[(i * 4) * oc + k], du[(i * 4 + 1) * oc + k], du[(i * 4 + 2) * oc + k], du[(i * 4 + 3) * oc + k])
                    t[i * 3] = a + (b + d) / 2; t[i * 3 + 1] = (b - d) / 2; t[i * 3 + 2] = (b + d) / 2 + e
                }
                let p = dw + k * 9
                for j in 0..<3 {
                    let (a, b, d, e) = (t[j], t[3 + j], t[6 + j], t[9 + j])
                    p[j] = a + (b + d) / 2; p[3 + j] = (b - d) / 2; p[6 + j] = (b + d) / 2 + e
                }
            }
        }
    }

    // Layout. A chunk's transformed inputs V are stored [C][16][columns] and the products M (and
    // dM) [O][16][columns], so that all 16 transforms of one plane land in one contiguous block:
    // the matrix V_ξ of the gemms is then `V + ξ * columns` with row stride 16 * columns. Within a
    // plane the tiles are numbered t = a * cols + b, so every transform runs as flat loops over
    // all of a plane's tiles; only the 1-D transform along the image rows touches pixels with a
    // stride. `slots` is scratch of 16 x tiles: the row-transformed tiles, slot[i][j][t].

    /// V = Bᵀ d B for every tile of one (sample, channel) plane: the 16 rows ξ of the block at `v`
    /// (row stride `ld`), columns t.
    @inline(__always)
    static func transformInput<S: TensorScalar>(_ plane: UnsafePointer<S>, _ t: Tiling, padded: UnsafeMutablePointer<S>,
                                                slots: UnsafeMutablePointer<S>, into v: UnsafeMutablePointer<S>, ld: Int) {
        let g = t.g
        let (ph, pw, p, tc, tiles) = (t.paddedH, t.paddedW, g.padding, t.cols, t.perSample)
        // Zero-padded copy: padded row r, column q hold x[r - p, q - p].
        padded.update(repeating: 0, count: ph * pw)
        for r in 0..<min(g.height, ph - p) {
            (padded + (r + p) * pw + p).update(from: plane + r * g.width, count: min(g.width, pw - p))
        }
        // Bᵀ along each padded row r, into the two tile rows that read it: row i = r % 2 of tile
        // row r / 2, and row i + 2 of tile row r / 2 - 1.
        for r in 0..<ph {
            let src = padded + r * pw
            for k in 0..<2 {
                let (a, i) = k == 0 ? (r / 2, r % 2) : (r / 2 - 1, r % 2 + 2)
                guard a >= 0 && a < t.rows else { continue }
                let dst = slots + i * 4 * tiles + a * tc
                for b in 0..<tc {
                    let (d0, d1, d2, d3) = (src[2 * b], src[2 * b + 1], src[2 * b + 2], src[2 * b + 3])
                    dst[b] = d0 - d2; dst[tiles + b] = d1 + d2; dst[2 * tiles + b] = d2 - d1; dst[3 * tiles + b] = d1 - d3
                }
            }
        }
        // Bᵀ down the tiles' columns: V[ξ = 4 i + j][t].
        for j in 0..<4 {
            let (h0, h1, h2, h3) = (slots + j * tiles, slots + (4 + j) * tiles, slots + (8 + j) * tiles, slots + (12 + j) * tiles)
            let (v0, v1, v2, v3) = (v + j * ld, v + (4 + j) * ld, v + (8 + j) * ld, v + (12 + j) * ld)
            for k in 0..<tiles {
                v0[k] = h0[k] - h2[k]; v1[k] = h1[k] + h2[k]; v2[k] = h2[k] - h1[k]; v3[k] = h1[k] - h3[k]
            }
        }
    }

    /// Y = Aᵀ M A for every tile of one (sample, output channel) plane, whose 16 rows ξ are at `m`
    /// (row stride `ld`), written into `out` (oh x ow) with the tiles' overhang dropped.
    @inline(__always)
    static func transformOutput<S: TensorScalar>(_ m: UnsafePointer<S>, ld: Int, _ t: Tiling,
                                                 slots: UnsafeMutablePointer<S>, into out: UnsafeMutablePointer<S>) {
        let (tc, oh, ow, tiles) = (t.cols, t.g.outHeight, t.g.outWidth, t.perSample)
        // Aᵀ down the columns: slot[i][j][t], i in 0..<2.
        for j in 0..<4 {
            let (m0, m1, m2, m3) = (m + j * ld, m + (4 + j) * ld, m + (8 + j) * ld, m + (12 + j) * ld)
            let (y0, y1) = (slots + j * tiles, slots + (4 + j) * tiles)
            for k in 0..<tiles { y0[k] = m0[k] + m1[k] + m2[k]; y1[k] = m1[k] - m2[k] - m3[k] }
        }
        // Aᵀ along the rows, into output rows 2a and 2a + 1.
        for a in 0..<t.rows {
            for i in 0..<2 where 2 * a + i < oh {
                let r = slots + i * 4 * tiles + a * tc
                let (c0, c1, c2, c3) = (r, r + tiles, r + 2 * tiles, r + 3 * tiles)
                let dst = out + (2 * a + i) * ow
                for b in 0..<(ow / 2) {
                    dst[2 * b] = c0[b] + c1[b] + c2[b]
                    dst[2 * b + 1] = c1[b] - c2[b] - c3[b]
                }
                if ow % 2 == 1 { let b = ow / 2; dst[2 * b] = c0[b] + c1[b] + c2[b] }
            }
        }
    }

    /// dM = A dY Aᵀ for every tile of one (sample, output channel) plane `dy` (oh x ow): the
    /// adjoint of `transformOutput`, into the 16 rows at `dm` (row stride `ld`).
    @inline(__always)
    static func transformOutputAdjoint<S: TensorScalar>(_ dy: UnsafePointer<S>, _ t: Tiling, slots: UnsafeMutablePointer<S>,
                                                        into dm: UnsafeMutablePointer<S>, ld: Int) {
        let (tc, oh, ow, tiles) = (t.cols, t.g.outHeight, t.g.outWidth, t.perSample)
        // A along the rows 2a, 2a + 1 (zero past the edge): slot[i][j][t].
        for a in 0..<t.rows {
            for i in 0..<2 {
                let r = slots + i * 4 * tiles + a * tc
                let (e0, e1, e2, e3) = (r, r + tiles, r + 2 * tiles, r + 3 * tiles)
                guard 2 * a + i < oh else {
                    e0.update(repeating: 0, count: tc); e1.update(repeating: 0, count: tc)
                    e2.update(repeating: 0, count: tc); e3.update(repeating: 0, count: tc)
                    continue
                }
                let src = dy + (2 * a + i) * ow
                for b in 0..<(ow / 2) {
                    let (y0, y1) = (src[2 * b], src[2 * b + 1])
                    e0[b] = y0; e1[b] = y0 + y1; e2[b] = y0 - y1; e3[b] = -y1
                }
                if ow % 2 == 1 { let b = ow / 2, y0 = src[2 * b]; e0[b] = y0; e1[b] = y0; e2[b] = y0; e3[b] = 0 }
            }
        }
        // A down the columns.
        for j in 0..<4 {
            let (f0, f1) = (slots + j * tiles, slots + (4 + j) * tiles)
            let (d0, d1, d2, d3) = (dm + j * ld, dm + (4 + j) * ld, dm + (8 + j) * ld, dm + (12 + j) * ld)
            for k in 0..<tiles { d0[k] = f0[k]; d1[k] = f0[k] + f1[k]; d2[k] = f0[k] - f1[k]; d3[k] = -f1[k] }
        }
    }

    // MARK: The two maps

    /// Splits one worker's scratch into V, M and the transforms' scratch, and fills V with the
    /// transformed inputs of samples first ..< first + count.
    @inline(__always)
    static func transformInputs<S: TensorScalar>(_ x: UnsafePointer<S>, first: Int, count: Int, _ t: Tiling,
                                                 scratch: UnsafeMutablePointer<S>)
        -> (v: UnsafeMutablePointer<S>, m: UnsafeMutablePointer<S>, slots: UnsafeMutablePointer<S>) {
        let (c, cols, plane) = (t.g.inChannels, t.columns, t.g.height * t.g.width)
        let v = scratch, m = scratch + 16 * c * cols
        let padded = m + 16 * t.g.outChannels * cols, slots = padded + t.paddedH * t.paddedW
        for s in 0..<count {
            for ch in 0..<c {
                transformInput(x + ((first + s) * c + ch) * plane, t, padded: padded, slots: slots,
                               into: v + ch * 16 * cols + s * t.perSample, ld: cols)
            }
        }
        return (v, m, slots)
    }

    /// y = conv(x, w).
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func forward<S: TensorScalar>(_ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        precondition(handles(g), "Winograd F(2x2,3x3): geometry \(g) is not a 3x3 stride-1 ungrouped convolution with padding <= 2")
        let t = Tiling(g)
        let (o, c, cols, tiles) = (g.outChannels, g.inChannels, t.columns, t.perSample)
        var u = [S](repeating: 0, count: 16 * o * c)
        w.scalars.withUnsafeBufferPointer { pw in u.withUnsafeMutableBufferPointer { transformWeights(pw.baseAddress!, o: o, c: c, into: $0.baseAddress!) } }
        let outPlane = g.outHeight * g.outWidth
        return Tensor(shape: g.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                u.withUnsafeBufferPointer { pu in
                    let y = y
                    forEachChunk(t) { (first: Int, n: Int, scratch: UnsafeMutablePointer<S>, _: Int) in
                        let (v, m, slots) = transformInputs(px.baseAddress!, first: first, count: n, t, scratch: scratch)
                        for xi in 0..<16 {
                            S.gemm(transA: false, transB: false, m: o, n: n * tiles, k: c, alpha: 1,
                                   a: pu.baseAddress! + xi * o * c, lda: c, b: v + xi * cols, ldb: 16 * cols,
                                   beta: 0, c: m + xi * cols, ldc: 16 * cols)
                        }
                        for s in 0..<n {
                            for oc in 0..<o {
                                transformOutput(m + oc * 16 * cols + s * tiles, ld: cols, t, slots: slots,
                                                into: y.baseAddress! + ((first + s) * o + oc) * outPlane)
                            }
                        }
                    }
                }
            }
        }
    }

    /// dw = adjoint of conv in w, applied to dy: dU_ξ = Σ_tiles dM_ξ V_ξᵀ, then dw = Gᵀ dU G.
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func backwardWeight<S: TensorScalar>(_ x: Tensor<S>, _ dy: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        precondition(handles(g), "Winograd F(2x2,3x3): geometry \(g) is not a 3x3 stride-1 ungrouped convolution with padding <= 2")
        let t = Tiling(g)
        let (o, c, cols, tiles) = (g.outChannels, g.inChannels, t.columns, t.perSample)
        let outPlane = g.outHeight * g.outWidth
        let workers = max(1, min(workerCount, (g.batch + t.samples - 1) / t.samples))
        let uCount = 16 * o * c
        var du = [S](repeating: 0, count: uCount * workers)
        x.scalars.withUnsafeBufferPointer { px in
            dy.scalars.withUnsafeBufferPointer { pdy in
                du.withUnsafeMutableBufferPointer { acc in
                    let acc = acc
                    forEachChunk(t, workers: workers) { (first: Int, n: Int, scratch: UnsafeMutablePointer<S>, worker: Int) in
                        let (v, m, slots) = transformInputs(px.baseAddress!, first: first, count: n, t, scratch: scratch)
                        for s in 0..<n {
                            for oc in 0..<o {
                                transformOutputAdjoint(pdy.baseAddress! + ((first + s) * o + oc) * outPlane, t, slots: slots,
                                                       into: m + oc * 16 * cols + s * tiles, ld: cols)
                            }
                        }
                        for xi in 0..<16 {
                            S.gemm(transA: false, transB: true, m: o, n: c, k: n * tiles, alpha: 1,
                                   a: m + xi * cols, lda: 16 * cols, b: v + xi * cols, ldb: 16 * cols,
                                   beta: 1, c: acc.baseAddress! + worker * uCount + xi * o * c, ldc: c)
                        }
                    }
                    for k in 1..<workers { for i in 0..<uCount { acc[i] += acc[k * uCount + i] } }
                }
            }
        }
        return Tensor(shape: g.weightShape) { dw in
            du.withUnsafeBufferPointer { transformWeightsAdjoint($0.baseAddress!, o: o, c: c, into: dw.baseAddress!) }
        }
    }

    /// Splits the batch over the workers in contiguous ranges and each range into chunks of
    /// `t.samples`; `body(firstSample, samplesInChunk, scratch, worker)`.
    @inline(__always)
    static func forEachChunk<S>(_ t: Tiling, workers: Int? = nil,
                                _ body: (_ first: Int, _ count: Int, _ scratch: UnsafeMutablePointer<S>, _ worker: Int) -> Void) {
        let batch = t.g.batch
        let chunks = (batch + t.samples - 1) / t.samples
        let n = workers ?? max(1, min(workerCount, chunks))
        withoutActuallyEscaping(body) { body in
            let run = { (k: Int) in
                let buf = UnsafeMutablePointer<S>.allocate(capacity: t.scratchCount)
                defer { buf.deallocate() }
                // Whole chunks per worker, so every gemm but the last is full width.
                var chunk = chunks * k / n
                while chunk < chunks * (k + 1) / n {
                    let first = chunk * t.samples
                    body(first, min(t.samples, batch - first), buf, k)
                    chunk += 1
                }
            }
            if n == 1 { run(0) } else { DispatchQueueHelper.concurrent(n, run) }
        }
    }
}
