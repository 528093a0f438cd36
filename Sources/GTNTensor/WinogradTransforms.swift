// The Winograd transforms: the 1-D ones of F(2x2,3x3) and F(4x4,3x3) on 8 lanes (8 samples' tiles at
// once), and the weights' (U = G w Gᵀ and its adjoint), out of Winograd.swift so that the
// convolution's plan reads apart from its arithmetic.

extension Winograd {
    // MARK: 1-D transforms. Each 2-D transform applies one along the tile's rows, then along its
    // columns (or the reverse); written once for lane vectors and once for scalars (weights).

    @inline(__always)
    static func load<S: TensorScalar>(_ p: UnsafePointer<S>) -> Lanes<S> {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes<S>.self)
    }

    @inline(__always)
    static func store<S: TensorScalar>(_ v: Lanes<S>, _ p: UnsafeMutablePointer<S>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes<S>.self)
    }

    /// Eight lane vectors: an 8 x 8 block of scalars, one row per vector.
    typealias Block<S: TensorScalar> = (
        Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>
    )

    /// The block transposed: row i's lane j becomes row j's lane i. Index the 64 scalars by six
    /// bits, row (3) then lane (3); a perfect unshuffle (the even lanes of each pair of rows, then
    /// the odd ones) rotates those bits right by one, so three of them swap row and lane bits.
    @inline(__always)
    static func transposed<S: TensorScalar>(_ b: Block<S>) -> Block<S> {
        @inline(__always) func unshuffle(_ b: Block<S>) -> Block<S> {
            @inline(__always) func split(_ x: Lanes<S>, _ y: Lanes<S>) -> (Lanes<S>, Lanes<S>) {
                let joined = SIMD16<S>(lowHalf: x, highHalf: y)
                return (joined.evenHalf, joined.oddHalf)
            }
            let (e0, o0) = split(b.0, b.1)
            let (e1, o1) = split(b.2, b.3)
            let (e2, o2) = split(b.4, b.5)
            let (e3, o3) = split(b.6, b.7)
            return (e0, e1, e2, e3, o0, o1, o2, o3)
        }
        return unshuffle(unshuffle(unshuffle(b)))
    }

    /// Reads eight rows of eight scalars (row i at `src + i * srcStride`) and writes them
    /// transposed: row j at `dst + j * dstStride`.
    @inline(__always)
    static func transposeBlock<S: TensorScalar>(
        _ src: UnsafePointer<S>, _ srcStride: Int, into dst: UnsafeMutablePointer<S>, _ dstStride: Int
    ) {
        let s = srcStride
        let t = transposed(
            (
                load(src), load(src + s), load(src + 2 * s), load(src + 3 * s), load(src + 4 * s), load(src + 5 * s),
                load(src + 6 * s), load(src + 7 * s)
            ))
        let d = dstStride
        store(t.0, dst)
        store(t.1, dst + d)
        store(t.2, dst + 2 * d)
        store(t.3, dst + 3 * d)
        store(t.4, dst + 4 * d)
        store(t.5, dst + 5 * d)
        store(t.6, dst + 6 * d)
        store(t.7, dst + 7 * d)
    }

    /// Copies `width` (>= `lanes`) scalars of one row of each of `lanes` planes (plane i's row at
    /// `rows + i * planeStride`) into a lane-interleaved row (`interleaved[q * lanes + i]`), or
    /// back (`!intoInterleaved`), in 8 x 8 blocks transposed in registers; where `width` is not a
    /// multiple of 8 the last block overlaps the one before (rewriting the same values). The
    /// scalar copy it replaces, one 4-byte store per 32 bytes, was a third of the forward
    /// transform's own time.
    @inline(__always)
    static func interleave<S: TensorScalar>(
        rows: UnsafeMutablePointer<S>, planeStride: Int, _ interleaved: UnsafeMutablePointer<S>, width: Int,
        intoInterleaved: Bool
    ) {
        let l = lanes
        var q = 0
        while true {
            let q0 = min(q, width - l)
            if intoInterleaved {
                transposeBlock(rows + q0, planeStride, into: interleaved + q0 * l, l)
            } else {
                transposeBlock(interleaved + q0 * l, l, into: rows + q0, planeStride)
            }
            if q0 == width - l { return }
            q += l
        }
    }

    /// Writes the row-major rows x columns matrix at `src` transposed (columns x rows) into
    /// `dst`: 8 x 8 blocks through `transposed`, the edges that do not fill a block one by one.
    static func transpose<S: TensorScalar>(
        _ src: UnsafePointer<S>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<S>
    ) {
        let l = lanes
        let (fullRows, fullColumns) = (rows / l * l, columns / l * l)
        for i in stride(from: 0, to: fullRows, by: l) {
            for j in stride(from: 0, to: fullColumns, by: l) {
                transposeBlock(src + i * columns + j, columns, into: dst + j * rows + i, rows)
            }
        }
        for i in 0..<rows {
            for j in (i < fullRows ? fullColumns : 0)..<columns { dst[j * rows + i] = src[i * columns + j] }
        }
    }

    /// Stores F(2x2)'s four values of one tile column: rows ξ = j, 4 + j, 8 + j, 12 + j of a
    /// [ξ][columns] block with row stride `ld`, starting at row j's entry `p`.
    @inline(__always)
    static func storeColumn<S: TensorScalar>(
        _ x: (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>), _ p: UnsafeMutablePointer<S>, _ ld: Int
    ) {
        store(x.0, p)
        store(x.1, p + 4 * ld)
        store(x.2, p + 8 * ld)
        store(x.3, p + 12 * ld)
    }

    /// F(2x2) Bᵀ on one line of four inputs.
    @inline(__always)
    static func inputLine<S: TensorScalar>(_ d0: Lanes<S>, _ d1: Lanes<S>, _ d2: Lanes<S>, _ d3: Lanes<S>)
        -> (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>)
    {
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    /// F(2x2) Aᵀ on one line of four products.
    @inline(__always)
    static func outputLine<S: TensorScalar>(_ m0: Lanes<S>, _ m1: Lanes<S>, _ m2: Lanes<S>, _ m3: Lanes<S>) -> (
        Lanes<S>, Lanes<S>
    ) {
        (m0 + m1 + m2, m1 - m2 - m3)
    }

    /// F(2x2) A (Aᵀ's adjoint) on one line of two output gradients.
    @inline(__always)
    static func outputAdjointLine<S: TensorScalar>(_ e0: Lanes<S>, _ e1: Lanes<S>) -> (
        Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>
    ) {
        (e0, e0 + e1, e0 - e1, -e1)
    }

    /// F(4x4) Bᵀ on the six values d[k * stride], into out[k * outStride].
    @inline(__always)
    static func inputLine6<S: TensorScalar>(
        _ d: UnsafePointer<S>, _ stride: Int, _ out: UnsafeMutablePointer<S>, _ outStride: Int
    ) {
        let (d0, d1, d2, d3, d4, d5) = (
            load(d), load(d + stride), load(d + 2 * stride), load(d + 3 * stride),
            load(d + 4 * stride), load(d + 5 * stride)
        )
        let four = Lanes<S>(repeating: 4)
        let five = Lanes<S>(repeating: 5)
        let two = Lanes<S>(repeating: 2)
        store(four * d0 - five * d2 + d4, out)
        store((d3 + d4) - four * (d1 + d2), out + outStride)
        store((d4 - d3) + four * (d1 - d2), out + 2 * outStride)
        store((d4 - d2) + two * (d3 - d1), out + 3 * outStride)
        store((d4 - d2) - two * (d3 - d1), out + 4 * outStride)
        store(four * d1 - five * d3 + d5, out + 5 * outStride)
    }

    /// F(4x4) Aᵀ on the six products m[k * stride], into the four out[k * outStride].
    @inline(__always)
    static func outputLine6<S: TensorScalar>(
        _ p: UnsafePointer<S>, _ stride: Int, _ out: UnsafeMutablePointer<S>, _ outStride: Int
    ) {
        let (m0, m1, m2, m3, m4, m5) = (
            load(p), load(p + stride), load(p + 2 * stride), load(p + 3 * stride),
            load(p + 4 * stride), load(p + 5 * stride)
        )
        let (a, b, c, d) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4)
        store(m0 + a + c, out)
        store(b + Lanes<S>(repeating: 2) * d, out + outStride)
        store(a + Lanes<S>(repeating: 4) * c, out + 2 * outStride)
        store(b + Lanes<S>(repeating: 8) * d + m5, out + 3 * outStride)
    }

    /// F(4x4) A on the four output gradients e[k * stride], into the six out[k * outStride].
    @inline(__always)
    static func outputAdjointLine4<S: TensorScalar>(
        _ e: UnsafePointer<S>, _ stride: Int, _ out: UnsafeMutablePointer<S>, _ outStride: Int
    ) {
        let (e0, e1, e2, e3) = (load(e), load(e + stride), load(e + 2 * stride), load(e + 3 * stride))
        let (even, odd) = (e0 + e2, e1 + e3)
        let (even4, odd8) = (
            e0 + Lanes<S>(repeating: 4) * e2, Lanes<S>(repeating: 2) * e1 + Lanes<S>(repeating: 8) * e3
        )
        store(e0, out)
        store(even + odd, out + outStride)
        store(even - odd, out + 2 * outStride)
        store(even4 + odd8, out + 3 * outStride)
        store(even4 - odd8, out + 4 * outStride)
        store(e3, out + 5 * outStride)
    }

    // MARK: Weights: U = G w Gᵀ for every (o, c), stored [ξ][O][C] (U_ξ is an O x C matrix), and
    // the adjoint dw = Gᵀ dU G.

    /// G of F(4x4) on one kernel line (w0, w1, w2) of `lanes` kernels.
    @inline(__always)
    static func weightLine6<S: TensorScalar>(_ w0: Lanes<S>, _ w1: Lanes<S>, _ w2: Lanes<S>) -> (
        Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>
    ) {
        let (a, b, c) = (w0 / 24, w1 / 12, w2 / 6)
        let u1 = -(w0 + w1 + w2) / 6
        let u2 = -(w0 - w1 + w2) / 6
        return (w0 / 4, u1, u2, a + b + c, a - b + c, w2)
    }

    /// Gᵀ of F(4x4) on one line of six, for `lanes` kernels.
    @inline(__always)
    static func weightAdjointLine6<S: TensorScalar>(
        _ u0: Lanes<S>, _ u1: Lanes<S>, _ u2: Lanes<S>, _ u3: Lanes<S>, _ u4: Lanes<S>, _ u5: Lanes<S>
    ) -> (Lanes<S>, Lanes<S>, Lanes<S>) {
        let (a, b, c) = (u1 / 6, u2 / 6, u3 / 24)
        let (d, e, f) = (u4 / 24, u3 / 12, u4 / 12)
        let w0 = u0 / 4 - a - b + c + d
        let w1 = -a + b + e - f
        let w2 = -a - b + u3 / 6 + u4 / 6 + u5
        return (w0, w1, w2)
    }

    /// U for kernels k0 ..< k0 + lanes at once, one kernel per lane: the nine taps are gathered
    /// (stride 9), and each U_ξ entry is one vector store of `lanes` consecutive (o, c) pairs.
    @inline(__always)
    static func transformWeightBlock<S: TensorScalar>(
        _ w: UnsafePointer<S>, k0: Int, oc: Int, _ tile: Tile, into u: UnsafeMutablePointer<S>
    ) {
        @inline(__always) func tap(_ j: Int) -> Lanes<S> {
            let p = w + k0 * 9 + j
            return Lanes<S>(p[0], p[9], p[18], p[27], p[36], p[45], p[54], p[63])
        }
        // G along the kernel's three columns into `alpha` x 3 vectors, then along those rows,
        // each row's `alpha` results stored into the U_ξ they belong to.
        let alpha = tile.alpha
        @inline(__always) func g(_ a: Lanes<S>, _ b: Lanes<S>, _ d: Lanes<S>, _ put: (Int, Lanes<S>) -> Void) {
            switch tile {
            case .two:
                put(0, a)
                put(1, (a + b + d) / 2)
                put(2, (a - b + d) / 2)
                put(3, d)
            case .four:
                let r = weightLine6(a, b, d)
                put(0, r.0)
                put(1, r.1)
                put(2, r.2)
                put(3, r.3)
                put(4, r.4)
                put(5, r.5)
            }
        }
        withUnsafeTemporaryAllocation(of: Lanes<S>.self, capacity: 18) { t in
            for j in 0..<3 { g(tap(j), tap(3 + j), tap(6 + j)) { i, v in t[i * 3 + j] = v } }
            for i in 0..<alpha {
                g(t[i * 3], t[i * 3 + 1], t[i * 3 + 2]) { k, v in store(v, u + (i * alpha + k) * oc + k0) }
            }
        }
    }

    /// dw = Gᵀ dU G for kernels k0 ..< k0 + lanes at once, one kernel per lane: each dU_ξ entry is
    /// one vector load of `lanes` consecutive (o, c) pairs, and the nine taps are stored stride 9.
    @inline(__always)
    static func transformWeightAdjointBlock<S: TensorScalar>(
        _ du: UnsafePointer<S>, k0: Int, oc: Int, _ tile: Tile, into dw: UnsafeMutablePointer<S>
    ) {
        // Gᵀ along dU's rows into `alpha` x 3 vectors, then along those columns into the taps.
        @inline(__always) func gT(_ v: (Int) -> Lanes<S>) -> (Lanes<S>, Lanes<S>, Lanes<S>) {
            switch tile {
            case .two:
                let (a, b, d, e) = (v(0), v(1), v(2), v(3))
                return (a + (b + d) / 2, (b - d) / 2, (b + d) / 2 + e)
            case .four:
                return weightAdjointLine6(v(0), v(1), v(2), v(3), v(4), v(5))
            }
        }
        @inline(__always) func put(_ tap: Int, _ v: Lanes<S>) {
            for l in 0..<lanes { dw[(k0 + l) * 9 + tap] = v[l] }
        }
        let alpha = tile.alpha
        withUnsafeTemporaryAllocation(of: Lanes<S>.self, capacity: 18) { t in
            for i in 0..<alpha {
                (t[i * 3], t[i * 3 + 1], t[i * 3 + 2]) = gT { k in load(du + (i * alpha + k) * oc + k0) }
            }
            for j in 0..<3 {
                let (p0, p1, p2) = gT { i in t[i * 3 + j] }
                put(j, p0)
                put(3 + j, p1)
                put(6 + j, p2)
            }
        }
    }

    /// U_ξ for every (o, c): whole blocks of `lanes` kernels split over the workers (it was 1.6% of
    /// a meta-iteration as a scalar loop on one core), the last few through the same block code on
    /// zero-padded copies.
    static func transformWeights<S: TensorScalar>(
        _ w: UnsafePointer<S>, o: Int, c: Int, _ tile: Tile,
        into u: UnsafeMutablePointer<S>
    ) {
        let oc = o * c
        let blocks = oc / lanes
        parallelChunks(blocks, grain: 128) { r in
            for block in r { transformWeightBlock(w, k0: block * lanes, oc: oc, tile, into: u) }
        }
        let (k0, rest, entries) = (blocks * lanes, oc - blocks * lanes, tile.alpha * tile.alpha)
        guard rest > 0 else { return }
        withUnsafeTemporaryAllocation(of: S.self, capacity: lanes * 9 + entries * lanes) { t in
            let (w8, u8) = (t.baseAddress!, t.baseAddress! + lanes * 9)
            w8.initialize(repeating: 0, count: lanes * 9)
            w8.update(from: w + k0 * 9, count: rest * 9)
            transformWeightBlock(w8, k0: 0, oc: lanes, tile, into: u8)
            for e in 0..<entries { (u + e * oc + k0).update(from: u8 + e * lanes, count: rest) }
        }
    }

    /// dw for every (o, c) from dU, as `transformWeights` splits the work.
    static func transformWeightsAdjoint<S: TensorScalar>(
        _ du: UnsafePointer<S>, o: Int, c: Int, _ tile: Tile,
        into dw: UnsafeMutablePointer<S>
    ) {
        let oc = o * c
        let blocks = oc / lanes
        parallelChunks(blocks, grain: 128) { r in
            for block in r { transformWeightAdjointBlock(du, k0: block * lanes, oc: oc, tile, into: dw) }
        }
        let (k0, rest, entries) = (blocks * lanes, oc - blocks * lanes, tile.alpha * tile.alpha)
        guard rest > 0 else { return }
        withUnsafeTemporaryAllocation(of: S.self, capacity: entries * lanes + lanes * 9) { t in
            let (du8, dw8) = (t.baseAddress!, t.baseAddress! + entries * lanes)
            du8.initialize(repeating: 0, count: entries * lanes)
            for e in 0..<entries { (du8 + e * lanes).update(from: du + e * oc + k0, count: rest) }
            transformWeightAdjointBlock(du8, k0: 0, oc: lanes, tile, into: dw8)
            (dw + k0 * 9).update(from: dw8, count: rest * 9)
        }
    }
}
