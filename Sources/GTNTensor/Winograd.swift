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

        /// Scratch of one worker: V (16 x C x columns), M (16 x O x columns), a padded plane, and
        /// the row-transformed tiles.
        var scratchCount: Int { 16 * (g.inChannels + g.outChannels) * columns + paddedH * paddedW + paddedH * 4 * cols }

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

    /// V = Bᵀ d B for every tile of one (sample, channel) plane. `plane` is the channel's H x W
    /// input; `padded` and `rowsT` are scratch. Tile (a, b) of the plane goes to column
    /// `column + a * cols + b` of the 16 matrices V_ξ (rows `channel`, `stride` columns each).
    @inline(__always)
    static func transformInput<S: TensorScalar>(_ plane: UnsafePointer<S>, _ t: Tiling, padded: UnsafeMutablePointer<S>,
                                                rowsT: UnsafeMutablePointer<S>, into v: UnsafeMutablePointer<S>, matrixStride: Int,
                                                row: Int, ldv: Int, column: Int) {
        let g = t.g
        let (ph, pw, p) = (t.paddedH, t.paddedW, g.padding)
        // Zero-padded copy: padded row r, column q hold x[r - p, q - p].
        padded.update(repeating: 0, count: ph * pw)
        for r in 0..<min(g.height, ph - p) {
            (padded + (r + p) * pw + p).update(from: plane + r * g.width, count: min(g.width, pw - p))
        }
        // Bᵀ along each padded row, for every tile column b: rowsT[r][j][b].
        let tc = t.cols
        for r in 0..<ph {
            let src = padded + r * pw, dst = rowsT + r * 4 * tc
            for b in 0..<tc {
                let (d0, d1, d2, d3) = (src[2 * b], src[2 * b + 1], src[2 * b + 2], src[2 * b + 3])
                dst[b] = d0 - d2; dst[tc + b] = d1 + d2; dst[2 * tc + b] = d2 - d1; dst[3 * tc + b] = d1 - d3
            }
        }
        // Bᵀ down the columns of each tile row a: V[(i, j)][row][column + a * cols + b].
        for a in 0..<t.rows {
            let r0 = rowsT + 2 * a * 4 * tc
            let base = v + row * ldv + column + a * tc
            for j in 0..<4 {
                let (h0, h1, h2, h3) = (r0 + j * tc, r0 + (4 + j) * tc, r0 + (8 + j) * tc, r0 + (12 + j) * tc)
                let (v0, v1, v2, v3) = (base + j * matrixStride, base + (4 + j) * matrixStride,
                                        base + (8 + j) * matrixStride, base + (12 + j) * matrixStride)
                for b in 0..<tc {
                    v0[b] = h0[b] - h2[b]; v1[b] = h1[b] + h2[b]; v2[b] = h2[b] - h1[b]; v3[b] = h1[b] - h3[b]
                }
            }
        }
    }

    /// Y = Aᵀ M A for every tile of one (sample, output channel) plane, written into `out` (oh x ow)
    /// with the tiles' overhang dropped. `rowsT` is scratch.
    @inline(__always)
    static func transformOutput<S: TensorScalar>(_ m: UnsafePointer<S>, matrixStride: Int, _ t: Tiling,
                                                 rowsT: UnsafeMutablePointer<S>, into out: UnsafeMutablePointer<S>) {
        let (tc, oh, ow) = (t.cols, t.g.outHeight, t.g.outWidth)
        for a in 0..<t.rows {
            let base = m + a * tc
            // Aᵀ down the columns: rowsT[i][j][b], i in 0..<2.
            for j in 0..<4 {
                let (m0, m1, m2, m3) = (base + j * matrixStride, base + (4 + j) * matrixStride,
                                        base + (8 + j) * matrixStride, base + (12 + j) * matrixStride)
                let (y0, y1) = (rowsT + j * tc, rowsT + (4 + j) * tc)
                for b in 0..<tc { y0[b] = m0[b] + m1[b] + m2[b]; y1[b] = m1[b] - m2[b] - m3[b] }
            }
            // Aᵀ along the rows, into output rows 2a and 2a + 1.
            for i in 0..<2 where 2 * a + i < oh {
                let r = rowsT + i * 4 * tc
                let dst = out + (2 * a + i) * ow
                let (c0, c1, c2, c3) = (r, r + tc, r + 2 * tc, r + 3 * tc)
                for b in 0..<(ow / 2) {
                    dst[2 * b] = c0[b] + c1[b] + c2[b]
                    dst[2 * b + 1] = c1[b] - c2[b] - c3[b]
                }
                if ow % 2 == 1 { let b = ow / 2; dst[2 * b] = c0[b] + c1[b] + c2[b] }
            }
        }
    }

    /// dM = A dY Aᵀ for every tile of one (sample, output channel) plane `dy` (oh x ow): the adjoint
    /// of `transformOutput`. Tile (a, b) goes to column `column + a * cols + b` of the 16 matrices
    /// dM_ξ (row `row`). `rowsT` is scratch.
    @inline(__always)
    static func transformOutputAdjoint<S: TensorScalar>(_ dy: UnsafePointer<S>, _ t: Tiling, rowsT: UnsafeMutablePointer<S>,
                                                        into dm: UnsafeMutablePointer<S>, matrixStride: Int,
                                                        row: Int, ldm: Int, column: Int) {
        let (tc, oh, ow) = (t.cols, t.g.outHeight, t.g.outWidth)
        for a in 0..<t.rows {
            // A along the rows 2a, 2a + 1 (zero past the edge): rowsT[i][j][b].
            for i in 0..<2 {
                let r = rowsT + i * 4 * tc
                let (e0, e1, e2, e3) = (r, r + tc, r + 2 * tc, r + 3 * tc)
                guard 2 * a + i < oh else {
                    r.update(repeating: 0, count: 4 * tc)
                    continue
                }
                let src = dy + (2 * a + i) * ow
                for b in 0..<tc {
                    let y0 = src[2 * b], y1: S = 2 * b + 1 < ow ? src[2 * b + 1] : 0
                    e0[b] = y0; e1[b] = y0 + y1; e2[b] = y0 - y1; e3[b] = -y1
                }
            }
            // A down the columns.
            let base = dm + row * ldm + column + a * tc
            for j in 0..<4 {
                let (f0, f1) = (rowsT + j * tc, rowsT + (4 + j) * tc)
                let (d0, d1, d2, d3) = (base + j * matrixStride, base + (4 + j) * matrixStride,
                                        base + (8 + j) * matrixStride, base + (12 + j) * matrixStride)
                for b in 0..<tc { d0[b] = f0[b]; d1[b] = f0[b] + f1[b]; d2[b] = f0[b] - f1[b]; d3[b] = -f1[b] }
            }
        }
    }

    // MARK: The two maps

    /// y = conv(x, w).
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func forward<S: TensorScalar>(_ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        precondition(handles(g), "Winograd F(2x2,3x3): geometry \(g) is not a 3x3 stride-1 ungrouped convolution with padding <= 2")
        let t = Tiling(g)
        let (o, c, cols) = (g.outChannels, g.inChannels, t.columns)
        var u = [S](repeating: 0, count: 16 * o * c)
        w.scalars.withUnsafeBufferPointer { pw in u.withUnsafeMutableBufferPointer { transformWeights(pw.baseAddress!, o: o, c: c, into: $0.baseAddress!) } }
        let (inPlane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        return Tensor(shape: g.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                u.withUnsafeBufferPointer { pu in
                    let y = y
                    forEachChunk(t) { (first: Int, n: Int, scratch: UnsafeMutablePointer<S>, _: Int) in
                        let v = scratch, m = scratch + 16 * c * cols
                        let padded = m + 16 * o * cols, rowsT = padded + t.paddedH * t.paddedW
                        let used = n * t.perSample
                        for s in 0..<n {
                            for ch in 0..<c {
                                transformInput(px.baseAddress! + ((first + s) * c + ch) * inPlane, t, padded: padded, rowsT: rowsT,
                                               into: v, matrixStride: c * cols, row: ch, ldv: cols, column: s * t.perSample)
                            }
                        }
                        for xi in 0..<16 {
                            S.gemm(transA: false, transB: false, m: o, n: used, k: c, alpha: 1,
                                   a: pu.baseAddress! + xi * o * c, lda: c, b: v + xi * c * cols, ldb: cols,
                                   beta: 0, c: m + xi * o * cols, ldc: cols)
                        }
                        for s in 0..<n {
                            for oc in 0..<o {
                                transformOutput(m + oc * cols + s * t.perSample, matrixStride: o * cols, t, rowsT: rowsT,
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
        let (o, c, cols) = (g.outChannels, g.inChannels, t.columns)
        let (inPlane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let workers = max(1, min(workerCount, (g.batch + t.samples - 1) / t.samples))
        let uCount = 16 * o * c
        var du = [S](repeating: 0, count: uCount * workers)
        x.scalars.withUnsafeBufferPointer { px in
            dy.scalars.withUnsafeBufferPointer { pdy in
                du.withUnsafeMutableBufferPointer { acc in
                    let acc = acc
                    forEachChunk(t, workers: workers) { (first: Int, n: Int, scratch: UnsafeMutablePointer<S>, worker: Int) in
                        let v = scratch, m = scratch + 16 * c * cols
                        let padded = m + 16 * o * cols, rowsT = padded + t.paddedH * t.paddedW
                        let used = n * t.perSample
                        for s in 0..<n {
                            for ch in 0..<c {
                                transformInput(px.baseAddress! + ((first + s) * c + ch) * inPlane, t, padded: padded, rowsT: rowsT,
                                               into: v, matrixStride: c * cols, row: ch, ldv: cols, column: s * t.perSample)
                            }
                            for oc in 0..<o {
                                transformOutputAdjoint(pdy.baseAddress! + ((first + s) * o + oc) * outPlane, t, rowsT: rowsT,
                                                       into: m, matrixStride: o * cols, row: oc, ldm: cols, column: s * t.perSample)
                            }
                        }
                        for xi in 0..<16 {
                            S.gemm(transA: false, transB: true, m: o, n: c, k: used, alpha: 1,
                                   a: m + xi * o * cols, lda: cols, b: v + xi * c * cols, ldb: cols,
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
