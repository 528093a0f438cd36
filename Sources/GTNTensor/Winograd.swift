import Foundation

/// Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
/// Neural Networks", 2016) for 3x3, stride-1, ungrouped convolutions, with output tiles of
/// m = 2 or m = 4.
///
/// Each m x m output tile is Y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A, d the (m + 2)² input tile around it.
/// Summed over input channels, the (m + 2)² element-wise products of one tile become as many
/// matrix products M_ξ = U_ξ V_ξ (U_ξ: O x C transformed weights, V_ξ: C x columns transformed
/// inputs), which is why this pays: per output pixel and channel pair, F(2x2) multiplies 16/4 = 4
/// times and F(4x4) 36/16 = 2.25 times, against im2col's 9. F(2x2)'s transforms only add,
/// subtract and halve, so it is exact on small integers; F(4x4)'s divide by 6 and 24 and round a
/// little more (bounded in KernelReferenceTests).
///
/// Only the forward map and the weight adjoint are written here. The input adjoint of a stride-1
/// 3x3 layer with padding <= 2 is itself such a convolution (dy with the flipped, channel-swapped
/// kernel; `ConvGeometry.transposedForInputAdjoint`), so it reuses `forward`.
///
/// Work is cut into chunks (groups of 8 samples, one per SIMD lane, times a band of tile rows) and
/// split over the workers; each worker transforms a chunk into its own scratch (sized to stay in
/// cache), runs the (m + 2)² single-threaded gemms on it and transforms back.
enum Winograd {
    /// The geometries it computes: 3x3 kernel, stride 1, one group, padding <= 2.
    static func handles(_ g: ConvGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.groups == 1 && g.padding <= 2
    }

    /// The output tile: F(2x2, 3x3) or F(4x4, 3x3).
    enum Tile: Int, Sendable {
        case two = 2
        case four = 4
        var m: Int { rawValue }
        /// Side of the input tile, and the number of products (gemms) per tile.
        var alpha: Int { rawValue + 2 }
        var products: Int { alpha * alpha }
        var name: String { "Winograd F(\(m)x\(m),3x3)" }
    }

    /// The tile `ConvAlgorithm.automatic` uses for `g`: the one with fewer products per plane
    /// (F(2x2) on a tie: it rounds less), unless GTN_WINOGRAD_TILE says 2 or 4 (for A/B runs).
    /// At 14x14, F(4x4) needs 16 tiles x 36 products against 49 x 16 (-27%); measured in
    /// the meta-iteration: -22% of the wide convolutions' time (docs/NOTES.md).
    static func preferredTile(for g: ConvGeometry) -> Tile {
        if let forced = forcedTile { return forced }
        func products(_ t: Tile) -> Int { (g.outHeight + t.m - 1) / t.m * ((g.outWidth + t.m - 1) / t.m) * t.products }
        return products(.four) < products(.two) ? .four : .two
    }
    static let forcedTile = Int(ProcessInfo.processInfo.environment["GTN_WINOGRAD_TILE"] ?? "").flatMap(
        Tile.init(rawValue:))

    /// Samples per chunk group, one per SIMD lane: every tile transform below runs on `lanes`
    /// samples at once as vector code (the tiles of one plane are too few, 49 at 14x14, and
    /// overlap, so vectorising across them had left the row passes scalar).
    static let lanes = 8
    typealias Lanes<S: TensorScalar> = SIMD8<S>

    /// Gemm columns per chunk for F(2x2): enough that the 16 gemms are not too thin, few enough
    /// that the transformed chunk stays in cache (measured in `gtn-bench engine --parts conv`).
    /// F(4x4) scales it by 16/36, so that its 36 gemms' scratch is about as large.
    static let columnsPerChunk = Int(ProcessInfo.processInfo.environment["GTN_WINOGRAD_COLUMNS"] ?? "") ?? 392

    /// How a convolution is cut into chunks.
    struct Tiling {
        let g: ConvGeometry
        let tile: Tile
        /// Tiles down and across one output plane (the last may hang over the edge).
        let rows, cols: Int
        /// Groups of `lanes` samples (the last may be partial); how many of them a chunk holds,
        /// and the bands of tile rows a group's planes are cut into (when one group alone is
        /// wider than the column budget).
        let sampleGroups, groupsPerChunk, bands, rowsPerBand: Int
        var chunks: Int { (sampleGroups + groupsPerChunk - 1) / groupsPerChunk * bands }
        /// Columns of the largest chunk's gemms.
        var columns: Int { groupsPerChunk * rowsPerBand * cols * Winograd.lanes }
        /// Width of the zero-padded input patch the tiles read (m * cols + 2 >= width + 2 * padding).
        var paddedW: Int { tile.m * cols + 2 }
        var patchCount: Int { (tile.m * rowsPerBand + 2) * paddedW * Winograd.lanes }
        var bandCount: Int { tile.m * rowsPerBand * tile.m * cols * Winograd.lanes }

        /// Scratch of one worker: V (products x C x columns), M (products x O x columns), each
        /// matrix followed by `Winograd.matrixGap` unused scalars, the lane-interleaved input patch
        /// and output band of one group, and one tile's partial transform.
        var scratchCount: Int {
            tile.products * ((g.inChannels + g.outChannels) * columns + 2 * Winograd.matrixGap + Winograd.lanes)
                + patchCount + bandCount
        }

        init(_ g: ConvGeometry, tile: Tile) {
            self.g = g
            self.tile = tile
            let (m, l) = (tile.m, Winograd.lanes)
            (rows, cols) = ((g.outHeight + m - 1) / m, (g.outWidth + m - 1) / m)
            sampleGroups = (g.batch + l - 1) / l
            let budget = max(1, Winograd.columnsPerChunk * 16 / tile.products)
            let perGroup = rows * cols * l
            if perGroup >= budget {
                let most = max(1, budget / (cols * l))
                bands = (rows + most - 1) / most
                rowsPerBand = (rows + bands - 1) / bands
                groupsPerChunk = 1
            } else {
                (bands, rowsPerBand) = (1, rows)
                let most = budget / perGroup
                let chunks = (sampleGroups + most - 1) / most
                groupsPerChunk = (sampleGroups + chunks - 1) / chunks
            }
        }

        /// Chunk k: its sample groups and its band of tile rows.
        func chunk(_ k: Int) -> Chunk {
            let (set, band) = k.quotientAndRemainder(dividingBy: bands)
            let first = set * groupsPerChunk
            let a0 = band * rowsPerBand
            return Chunk(
                firstGroup: first, groups: min(sampleGroups, first + groupsPerChunk) - first, a0: a0,
                tileRows: min(rows, a0 + rowsPerBand) - a0, cols: cols)
        }

        /// The samples of group `group`: first ..< first + count, one per lane.
        func samples(ofGroup group: Int) -> (first: Int, count: Int) {
            (group * Winograd.lanes, min(Winograd.lanes, g.batch - group * Winograd.lanes))
        }
    }

    /// Sample groups firstGroup ..< firstGroup + groups, tile rows a0 ..< a0 + tileRows. Its gemm
    /// column (group i, tile row a, tile column b, lane) is ((i * tileRows + a) * cols + b) * lanes + lane.
    struct Chunk {
        let firstGroup, groups, a0, tileRows, cols: Int
        var columnsPerGroup: Int { tileRows * cols * Winograd.lanes }
        var columns: Int { groups * columnsPerGroup }
    }

    /// Scalars left unused after each V_ξ and M_ξ. The matrices are contiguous, so the gemms read
    /// rows one after another; without the gap they would often lie a multiple of 4 KiB apart
    /// (32 KiB in the learner's 64->128 layer), and the transforms, which write one row of each of
    /// the 16 or 36 matrices per tile, would write to addresses that share their L1 cache set.
    static let matrixGap = 16

    // MARK: Inputs and outputs of one (group, channel) band.
    //
    // Layout. A chunk's transformed inputs V are stored [ξ][C][columns] and the products M (and
    // dM) [ξ][O][columns] (with `matrixGap` after each ξ), so V_ξ is a contiguous C x columns
    // matrix at `V + ξ * vStride`, and the transforms write channel k's rows ξ with row stride
    // vStride (mStride for M). (A layout [C][ξ][columns] keeps a transform's writes closer
    // together, but its gemm rows then lie products * columns apart: 18 KiB at F(4x4), every
    // second row in the same L1 set. Contiguous matrices made OpenBLAS 1.1x faster on a quiet
    // machine, up to 2x with other processes sharing the cache, and libxsmm's kernels 1.5x.)
    //
    // Before transforming, a band of each plane is copied lane-interleaved (pixel-major,
    // sample-minor: `patch[(r * w + q) * lanes + lane]`), so each of a tile's inputs is one vector
    // load and each transformed value one vector store.

    /// Copies group `group`'s band of channel `ch` into `patch`, zero-padded and lane-interleaved:
    /// patch row i holds input row m * a0 - padding + i.
    @inline(__always)
    static func gatherInputBand<S: TensorScalar>(
        _ x: UnsafePointer<S>, channel ch: Int, group: Int, _ t: Tiling, _ c: Chunk,
        into patch: UnsafeMutablePointer<S>
    ) {
        let (g, pw, l) = (t.g, t.paddedW, lanes)
        let patchRows = t.tile.m * c.tileRows + 2
        let top = t.tile.m * c.a0 - g.padding
        let (r0, r1) = (max(0, top), min(g.height, top + patchRows))
        let (plane, w) = (g.height * g.width, min(g.width, pw - g.padding))
        let samples = t.samples(ofGroup: group)
        if r0 < r1 && samples.count == l && w >= l {
            // Every lane of the rows and columns the input covers is written below, so only the
            // border is zeroed (the whole patch, twice the input band in the learner's layer, had
            // been zeroed first).
            @inline(__always) func zero(_ p: UnsafeMutablePointer<S>, pixels: Int) {
                for k in 0..<pixels { store(Lanes<S>(repeating: 0), p + k * l) }
            }
            for i in 0..<(r0 - top) { zero(patch + i * pw * l, pixels: pw) }
            for i in (r1 - top)..<patchRows { zero(patch + i * pw * l, pixels: pw) }
            let src = UnsafeMutablePointer(mutating: x) + (samples.first * g.inChannels + ch) * plane
            for r in r0..<r1 {
                let row = patch + (r - top) * pw * l
                zero(row, pixels: g.padding)
                zero(row + (g.padding + w) * l, pixels: pw - g.padding - w)
                interleave(
                    rows: src + r * g.width, planeStride: g.inChannels * plane, row + g.padding * l, width: w,
                    intoInterleaved: true)
            }
            return
        }
        patch.update(repeating: 0, count: patchRows * pw * l)
        guard r0 < r1 else { return }
        for lane in 0..<samples.count {
            let src = x + ((samples.first + lane) * g.inChannels + ch) * plane
            for r in r0..<r1 {
                let (row, dst) = (src + r * g.width, patch + ((r - top) * pw + g.padding) * l + lane)
                for q in 0..<w { dst[q * l] = row[q] }
            }
        }
    }

    /// V = Bᵀ d B for every tile of the band in `patch`, into the rows ξ at `v` (row stride `ld`).
    @inline(__always)
    static func transformInputBand<S: TensorScalar>(
        _ patch: UnsafePointer<S>, _ t: Tiling, _ c: Chunk,
        scratch: UnsafeMutablePointer<S>, into v: UnsafeMutablePointer<S>, ld: Int
    ) {
        let (pw, l, m) = (t.paddedW, lanes, t.tile.m)
        for a in 0..<c.tileRows {
            for b in 0..<t.cols {
                let p = patch + (m * a * pw + m * b) * l
                let column = v + (a * t.cols + b) * l
                switch t.tile {
                case .two:
                    @inline(__always) func d(_ i: Int, _ j: Int) -> Lanes<S> { load(p + (i * pw + j) * l) }
                    // Column j of the result: ξ = j, 4 + j, 8 + j, 12 + j.
                    @inline(__always) func put(_ j: Int, _ x: (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>)) {
                        storeColumn(x, column + j * ld, ld)
                    }
                    // Bᵀ along each of the tile's rows i, then down each transformed column j.
                    let h0 = inputLine(d(0, 0), d(0, 1), d(0, 2), d(0, 3))
                    let h1 = inputLine(d(1, 0), d(1, 1), d(1, 2), d(1, 3))
                    let h2 = inputLine(d(2, 0), d(2, 1), d(2, 2), d(2, 3))
                    let h3 = inputLine(d(3, 0), d(3, 1), d(3, 2), d(3, 3))
                    put(0, inputLine(h0.0, h1.0, h2.0, h3.0))
                    put(1, inputLine(h0.1, h1.1, h2.1, h3.1))
                    put(2, inputLine(h0.2, h1.2, h2.2, h3.2))
                    put(3, inputLine(h0.3, h1.3, h2.3, h3.3))
                case .four:
                    // Along the rows into the 6 x 6 scratch, then down its columns into V.
                    for i in 0..<6 { inputLine6(p + i * pw * l, l, scratch + i * 6 * l, l) }
                    for j in 0..<6 { inputLine6(scratch + j * l, 6 * l, column + j * ld, 6 * ld) }
                }
            }
        }
    }

    /// Y = Aᵀ M A for every tile of the band of output channel `o` (its rows ξ at `m`, row stride
    /// `ld`), through the lane-interleaved `band` (m * tileRows x m * cols), written into the
    /// output planes of group `group`'s samples with the tiles' overhang dropped.
    @inline(__always)
    static func transformOutputBand<S: TensorScalar>(
        _ mp: UnsafePointer<S>, ld: Int, _ t: Tiling, _ c: Chunk, group: Int,
        band: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>,
        channel o: Int, into y: UnsafeMutablePointer<S>
    ) {
        let (l, m) = (lanes, t.tile.m)
        let bw = m * t.cols
        for a in 0..<c.tileRows {
            for b in 0..<t.cols {
                let q = mp + (a * t.cols + b) * l
                let p = band + (m * a * bw + m * b) * l
                switch t.tile {
                case .two:
                    @inline(__always) func mm(_ i: Int, _ j: Int) -> Lanes<S> { load(q + (4 * i + j) * ld) }
                    let k0 = outputLine(mm(0, 0), mm(1, 0), mm(2, 0), mm(3, 0))
                    let k1 = outputLine(mm(0, 1), mm(1, 1), mm(2, 1), mm(3, 1))
                    let k2 = outputLine(mm(0, 2), mm(1, 2), mm(2, 2), mm(3, 2))
                    let k3 = outputLine(mm(0, 3), mm(1, 3), mm(2, 3), mm(3, 3))
                    let top = outputLine(k0.0, k1.0, k2.0, k3.0)
                    let bottom = outputLine(k0.1, k1.1, k2.1, k3.1)
                    store(top.0, p)
                    store(top.1, p + l)
                    store(bottom.0, p + bw * l)
                    store(bottom.1, p + bw * l + l)
                case .four:
                    // Down the columns into the 4 x 6 scratch, then along its rows into the band.
                    for j in 0..<6 { outputLine6(q + j * ld, 6 * ld, scratch + j * l, 6 * l) }
                    for i in 0..<4 { outputLine6(scratch + i * 6 * l, l, p + i * bw * l, l) }
                }
            }
        }
        copyOutputBand(t, c, group: group, channel: o, planes: y, band: band, intoBand: false)
    }

    /// Copies between the chunk's output band of channel `o` (lane-interleaved, m * tileRows x
    /// m * cols) and the rows it covers in the planes of group `group`'s samples, the overhang
    /// left out: into the band (`intoBand`, dY for the weight adjoint) or out of it (Y).
    @inline(__always)
    static func copyOutputBand<S: TensorScalar>(
        _ t: Tiling, _ c: Chunk, group: Int, channel o: Int,
        planes: UnsafeMutablePointer<S>, band: UnsafeMutablePointer<S>, intoBand: Bool
    ) {
        let (g, l, m) = (t.g, lanes, t.tile.m)
        let (ow, plane, bw) = (g.outWidth, g.outHeight * g.outWidth, m * t.cols)
        let rowsHere = min(m * c.tileRows, g.outHeight - m * c.a0)
        let samples = t.samples(ofGroup: group)
        if samples.count == l && ow >= l {
            let first = planes + (samples.first * g.outChannels + o) * plane + m * c.a0 * ow
            for r in 0..<rowsHere {
                interleave(
                    rows: first + r * ow, planeStride: g.outChannels * plane, band + r * bw * l, width: ow,
                    intoInterleaved: intoBand)
            }
            return
        }
        for lane in 0..<samples.count {
            let first = planes + ((samples.first + lane) * g.outChannels + o) * plane + m * c.a0 * ow
            for r in 0..<rowsHere {
                let (row, interleaved) = (first + r * ow, band + r * bw * l + lane)
                if intoBand {
                    for q in 0..<ow { interleaved[q * l] = row[q] }
                } else {
                    for q in 0..<ow { row[q] = interleaved[q * l] }
                }
            }
        }
    }

    /// dM = A dY Aᵀ for every tile of the band of output channel `o` of `dy` (group `group`'s
    /// samples): the adjoint of `transformOutputBand`, into the rows ξ at `dm` (row stride `ld`).
    @inline(__always)
    static func transformOutputAdjointBand<S: TensorScalar>(
        _ dy: UnsafePointer<S>, channel o: Int, group: Int, _ t: Tiling, _ c: Chunk,
        band: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>,
        into dm: UnsafeMutablePointer<S>, ld: Int
    ) {
        let (l, m) = (lanes, t.tile.m)
        let bw = m * t.cols
        // The band, lane-interleaved, zero past the planes' edges and in unused lanes.
        band.update(repeating: 0, count: m * c.tileRows * bw * l)
        copyOutputBand(
            t, c, group: group, channel: o, planes: UnsafeMutablePointer(mutating: dy), band: band, intoBand: true)
        for a in 0..<c.tileRows {
            for b in 0..<t.cols {
                let p = band + (m * a * bw + m * b) * l
                let q = dm + (a * t.cols + b) * l
                switch t.tile {
                case .two:
                    let (e00, e01, e10, e11) = (load(p), load(p + l), load(p + bw * l), load(p + bw * l + l))
                    // A along each row, then down each column.
                    let h0 = outputAdjointLine(e00, e01)
                    let h1 = outputAdjointLine(e10, e11)
                    @inline(__always) func put(_ j: Int, _ x: (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>)) {
                        storeColumn(x, q + j * ld, ld)
                    }
                    put(0, outputAdjointLine(h0.0, h1.0))
                    put(1, outputAdjointLine(h0.1, h1.1))
                    put(2, outputAdjointLine(h0.2, h1.2))
                    put(3, outputAdjointLine(h0.3, h1.3))
                case .four:
                    // Along the rows into the 4 x 6 scratch, then down its columns into dM.
                    for i in 0..<4 { outputAdjointLine4(p + i * bw * l, l, scratch + i * 6 * l, l) }
                    for j in 0..<6 { outputAdjointLine4(scratch + j * l, 6 * l, q + j * ld, 6 * ld) }
                }
            }
        }
    }

    // MARK: The two maps

    /// One worker's scratch, split.
    struct Scratch<S: TensorScalar> {
        let v, m, patch, band, tile: UnsafeMutablePointer<S>
        /// Distance between V_ξ and V_ξ+1, M_ξ and M_ξ+1.
        let vStride, mStride: Int
        init(_ base: UnsafeMutablePointer<S>, _ t: Tiling, _ c: Chunk) {
            let (p, n) = (t.tile.products, c.columns)
            (vStride, mStride) = (t.g.inChannels * n + matrixGap, t.g.outChannels * n + matrixGap)
            v = base
            m = v + p * vStride
            patch = m + p * mStride
            band = patch + t.patchCount
            tile = band + t.bandCount
        }
    }

    /// Fills V with the transformed inputs of chunk `c`.
    @inline(__always)
    static func transformInputs<S: TensorScalar>(_ x: UnsafePointer<S>, _ t: Tiling, _ c: Chunk, _ s: Scratch<S>) {
        let n = c.columns
        for k in 0..<t.g.inChannels {
            for i in 0..<c.groups {
                gatherInputBand(x, channel: k, group: c.firstGroup + i, t, c, into: s.patch)
                transformInputBand(
                    s.patch, t, c, scratch: s.tile, into: s.v + k * n + i * c.columnsPerGroup, ld: s.vStride)
            }
        }
    }

    /// y = conv(x, w).
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func forward<S: TensorScalar>(_ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry, tile: Tile = .two)
        -> Tensor<S>
    {
        precondition(
            handles(g), "\(tile.name): geometry \(g) is not a 3x3 stride-1 ungrouped convolution with padding <= 2")
        let t = Tiling(g, tile: tile)
        let (o, c, p) = (g.outChannels, g.inChannels, tile.products)
        var u = [S](repeating: 0, count: p * o * c)
        w.scalars.withUnsafeBufferPointer { pw in
            u.withUnsafeMutableBufferPointer {
                transformWeights(pw.baseAddress!, o: o, c: c, tile, into: $0.baseAddress!)
            }
        }
        return Tensor(shape: g.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                u.withUnsafeBufferPointer { pu in
                    let y = y
                    forEachChunk(t) { (chunk: Chunk, base: UnsafeMutablePointer<S>, _: Int) in
                        let (n, s) = (chunk.columns, Scratch(base, t, chunk))
                        transformInputs(px.baseAddress!, t, chunk, s)
                        let product = SmallGemm<S>(m: o, n: n, k: c, lda: c, ldb: n, ldc: n, accumulate: false)
                        for xi in 0..<p {
                            product(pu.baseAddress! + xi * o * c, s.v + xi * s.vStride, s.m + xi * s.mStride)
                        }
                        for oc in 0..<o {
                            for i in 0..<chunk.groups {
                                transformOutputBand(
                                    s.m + oc * n + i * chunk.columnsPerGroup, ld: s.mStride, t, chunk,
                                    group: chunk.firstGroup + i,
                                    band: s.band, scratch: s.tile, channel: oc, into: y.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
    }

    /// dw = adjoint of conv in w, applied to dy: dU_ξ = Σ_tiles dM_ξ V_ξᵀ, then dw = Gᵀ dU G.
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func backwardWeight<S: TensorScalar>(_ x: Tensor<S>, _ dy: Tensor<S>, _ g: ConvGeometry, tile: Tile = .two)
        -> Tensor<S>
    {
        precondition(
            handles(g), "\(tile.name): geometry \(g) is not a 3x3 stride-1 ungrouped convolution with padding <= 2")
        let t = Tiling(g, tile: tile)
        let (o, c, p) = (g.outChannels, g.inChannels, tile.products)
        let workers = max(1, min(workerCount, t.chunks))
        let uCount = p * o * c
        var du = [S](repeating: 0, count: uCount * workers)
        x.scalars.withUnsafeBufferPointer { px in
            dy.scalars.withUnsafeBufferPointer { pdy in
                du.withUnsafeMutableBufferPointer { acc in
                    let acc = acc
                    forEachChunk(t, workers: workers) { (chunk: Chunk, base: UnsafeMutablePointer<S>, worker: Int) in
                        let (n, s) = (chunk.columns, Scratch(base, t, chunk))
                        transformInputs(px.baseAddress!, t, chunk, s)
                        for oc in 0..<o {
                            for i in 0..<chunk.groups {
                                transformOutputAdjointBand(
                                    pdy.baseAddress!, channel: oc, group: chunk.firstGroup + i, t, chunk, band: s.band,
                                    scratch: s.tile, into: s.m + oc * n + i * chunk.columnsPerGroup, ld: s.mStride)
                            }
                        }
                        let dU = acc.baseAddress! + worker * uCount
                        // dU_ξ += dM_ξ V_ξᵀ contracts over the columns, the fast dimension of both
                        // operands, which libxsmm's kernels do not do: V_ξ is transposed first
                        // (8 x 8 blocks in registers, in cache) so that libxsmm can take the product.
                        let product = SmallGemm<S>(m: o, n: c, k: n, lda: n, ldb: c, ldc: c, accumulate: true)
                        if product.kernel != nil {
                            let vt = UnsafeMutablePointer<S>.allocate(capacity: n * c)
                            defer { vt.deallocate() }
                            for xi in 0..<p {
                                transpose(s.v + xi * s.vStride, rows: c, columns: n, into: vt)
                                product(s.m + xi * s.mStride, vt, dU + xi * o * c)
                            }
                        } else {
                            for xi in 0..<p {
                                S.gemm(
                                    transA: false, transB: true, m: o, n: c, k: n, alpha: 1,
                                    a: s.m + xi * s.mStride, lda: n, b: s.v + xi * s.vStride, ldb: n,
                                    beta: 1, c: dU + xi * o * c, ldc: c)
                            }
                        }
                    }
                    for k in 1..<workers { for i in 0..<uCount { acc[i] += acc[k * uCount + i] } }
                }
            }
        }
        return Tensor(shape: g.weightShape) { dw in
            du.withUnsafeBufferPointer {
                transformWeightsAdjoint($0.baseAddress!, o: o, c: c, tile, into: dw.baseAddress!)
            }
        }
    }

    /// Splits the chunks over the workers in contiguous ranges; `body(chunk, scratch, worker)`.
    @inline(__always)
    static func forEachChunk<S>(
        _ t: Tiling, workers: Int? = nil,
        _ body: (_ chunk: Chunk, _ scratch: UnsafeMutablePointer<S>, _ worker: Int) -> Void
    ) {
        let chunks = t.chunks
        let n = workers ?? max(1, min(workerCount, chunks))
        withoutActuallyEscaping(body) { body in
            let run = { (k: Int) in
                let buf = UnsafeMutablePointer<S>.allocate(capacity: t.scratchCount)
                defer { buf.deallocate() }
                for chunk in (chunks * k / n)..<(chunks * (k + 1) / n) { body(t.chunk(chunk), buf, k) }
            }
            if n == 1 { run(0) } else { DispatchQueueHelper.concurrent(n, run) }
        }
    }
}
