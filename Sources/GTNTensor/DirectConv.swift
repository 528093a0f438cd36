/// Direct convolution for stride-1, ungrouped layers with very few output channels (the
/// generator's last layer, 64 -> 1 at 28x28): there im2col + gemm is a one-row gemm that streams a
/// (C*k*k) x positions patch matrix per sample (576 x 784 floats, larger than L2) at gemv speed,
/// while the direct loops keep one output plane and one input plane in L1 and run as vectorised
/// multiply-adds along the rows. Forward and weight adjoint; the input adjoint of such a narrowing
/// layer already is a convolution with the flipped kernel (`ConvGeometry.transposedForInputAdjoint`).
enum DirectConvolution {
    static func handles(_ g: ConvGeometry) -> Bool { g.stride == 1 && g.groups == 1 }

    /// The layout the loops run on: the input plane zero-padded to ph x pw, and output planes
    /// with the same row stride pw. Then output position r * pw + q reads input position
    /// r * pw + q + (i * pw + j) for tap (i, j): every tap is one long loop over
    /// `span` = (oh - 1) * pw + ow positions (columns q >= ow of a row are scratch, never read back).
    struct Layout {
        let g: ConvGeometry
        init(_ g: ConvGeometry) {
            precondition(handles(g), "direct convolution: geometry \(g) is not stride 1 and ungrouped")
            self.g = g
        }
        var inPlane: Int { g.height * g.width }
        var ph: Int { g.height + 2 * g.padding }
        var pw: Int { g.width + 2 * g.padding }
        var span: Int { (g.outHeight - 1) * pw + g.outWidth }
        var planeCount: Int { ph * pw }
        var outCount: Int { g.outHeight * pw }

        /// One H x W plane zero-padded to ph x pw: copied into `scratch`, or, without padding,
        /// the plane itself (it already has that layout). Rows are copied by inline vector code:
        /// a memmove call per 28- or 30-scalar row had cost as much as the copying.
        @inline(__always)
        func padded<S: TensorScalar>(_ plane: UnsafePointer<S>, scratch dst: UnsafeMutablePointer<S>)
            -> UnsafePointer<S>
        {
            let p = g.padding
            if p == 0 { return plane }
            dst.update(repeating: 0, count: planeCount)
            for r in 0..<g.height { copyScalars(plane + r * g.width, count: g.width, into: dst + (r + p) * pw + p) }
            return UnsafePointer(dst)
        }
    }

    /// y = conv(x, w).
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func forward<S: TensorScalar>(_ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        let l = Layout(g)
        let (c, o, kh, kw, oh, ow) = (g.inChannels, g.outChannels, g.kernelH, g.kernelW, g.outHeight, g.outWidth)
        let (pw, span, inPlane) = (l.pw, l.span, l.inPlane)
        return Tensor(shape: g.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                w.scalars.withUnsafeBufferPointer { pw_ in
                    let (py, px, pk) = (y.baseAddress!, px.baseAddress!, pw_.baseAddress!)
                    parallelChunks(g.batch, grain: 1) { samples in
                        let plane = UnsafeMutablePointer<S>.allocate(capacity: l.planeCount)
                        let acc = UnsafeMutablePointer<S>.allocate(capacity: o * l.outCount)
                        defer {
                            plane.deallocate()
                            acc.deallocate()
                        }
                        for n in samples {
                            acc.update(repeating: 0, count: o * l.outCount)
                            for ch in 0..<c {
                                let input = l.padded(px + (n * c + ch) * inPlane, scratch: plane)
                                for oc in 0..<o {
                                    let out = acc + oc * l.outCount
                                    for i in 0..<kh {
                                        for j in 0..<kw {
                                            let k = pk[((oc * c + ch) * kh + i) * kw + j]
                                            let src = input + i * pw + j
                                            for q in 0..<span { out[q] += k * src[q] }
                                        }
                                    }
                                }
                            }
                            for oc in 0..<o {
                                for r in 0..<oh {
                                    copyScalars(
                                        acc + oc * l.outCount + r * pw, count: ow,
                                        into: py + ((n * o + oc) * oh + r) * ow)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dw = adjoint of conv in w, applied to dy: for each tap, one long dot product of dy (laid
    /// out with row stride pw, zeros in the scratch columns) with the shifted padded input.
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func backwardWeight<S: TensorScalar>(_ x: Tensor<S>, _ dy: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        let l = Layout(g)
        let (c, o, kh, kw, oh, ow) = (g.inChannels, g.outChannels, g.kernelH, g.kernelW, g.outHeight, g.outWidth)
        let (pw, span, inPlane) = (l.pw, l.span, l.inPlane)
        // (Scratch: the padded plane, then dy with row stride pw, its scratch columns zeroed.)
        let dw = x.scalars.withUnsafeBufferPointer { px in
            dy.scalars.withUnsafeBufferPointer { pdy in
                let (px, pdy) = (px.baseAddress!, pdy.baseAddress!)
                return Convolution.summedOverSamples(
                    g.batch, count: o * c * kh * kw, scratch: l.planeCount + o * l.outCount
                ) { (n, scratch: UnsafeMutablePointer<S>, dw) in
                    let (plane, d) = (scratch, scratch + l.planeCount)
                    for oc in 0..<o {
                        for r in 0..<oh {
                            let row = d + oc * l.outCount + r * pw
                            copyScalars(pdy + ((n * o + oc) * oh + r) * ow, count: ow, into: row)
                            for q in ow..<pw { row[q] = 0 }
                        }
                    }
                    for ch in 0..<c {
                        let input = l.padded(px + (n * c + ch) * inPlane, scratch: plane)
                        for oc in 0..<o {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    dw[((oc * c + ch) * kh + i) * kw + j] +=
                                        contiguousDot(d + oc * l.outCount, input + i * pw + j, span)
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: g.weightShape, scalars: dw)
    }
}

/// dst[0 ..< count] = src[0 ..< count] for short rows, in vectors of `Winograd.lanes` (the last
/// overlapping the one before), so that no library call is paid per row.
@inline(__always)
func copyScalars<S: TensorScalar>(_ src: UnsafePointer<S>, count: Int, into dst: UnsafeMutablePointer<S>) {
    typealias V = SIMD8<S>
    guard count >= 8 else {
        for q in 0..<count { dst[q] = src[q] }
        return
    }
    var q = 0
    while true {
        let at = Swift.min(q, count - 8)
        UnsafeMutableRawPointer(dst + at).storeBytes(
            of: UnsafeRawPointer(src + at).loadUnaligned(as: V.self), as: V.self)
        if at == count - 8 { return }
        q += 8
    }
}

/// Dot product of n contiguous scalars with eight independent accumulators (see `contiguousSum`).
@inline(__always)
func contiguousDot<S: TensorScalar>(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ n: Int) -> S {
    var (a0, a1, a2, a3, a4, a5, a6, a7): (S, S, S, S, S, S, S, S) = (0, 0, 0, 0, 0, 0, 0, 0)
    var i = 0
    while i + 8 <= n {
        a0 += a[i] * b[i]
        a1 += a[i + 1] * b[i + 1]
        a2 += a[i + 2] * b[i + 2]
        a3 += a[i + 3] * b[i + 3]
        a4 += a[i + 4] * b[i + 4]
        a5 += a[i + 5] * b[i + 5]
        a6 += a[i + 6] * b[i + 6]
        a7 += a[i + 7] * b[i + 7]
        i += 8
    }
    var tail: S = 0
    while i < n {
        tail += a[i] * b[i]
        i += 1
    }
    return ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}
