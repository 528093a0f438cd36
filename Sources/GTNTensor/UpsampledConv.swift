/// conv3x3(reflectionPad1(upsampleNearest2(x)), w) computed from x itself: the generator's last
/// layer (64 -> 1 channel, 14x14 -> 28x28), which is memory-bound, without the 4x larger upsampled
/// and padded tensor (29.5 MB a step at B = 128) that the gather writes and the convolution reads
/// back, and that the backward pass scatters again.
///
/// Why it is exact: upsampling by 2 repeats each pixel twice in each direction, so the 3x3 window
/// of output pixel (2i + a, 2j + b) covers only two source rows and two source columns; and
/// reflection padding by 1 of the upsampled plane reads, at its border, the same pixels as
/// replicate padding by 1 of x would (padded row -1 is upsampled row 1, which is x's row 0). So
/// each of the four output phases (a, b) is a 2x2 convolution of the edge-padded x with a kernel
/// whose taps are sums of the 3x3 kernel's taps:
///
///     rows of w feeding tap p of phase a:  a = 0: p = 0 <- {0}, p = 1 <- {1, 2}
///                                          a = 1: p = 0 <- {0, 1}, p = 1 <- {2}
///
/// (the same for columns), and phase a's tap p reads padded row i + a + p. Four taps per output
/// instead of nine, and x (6.4 MB) is read once instead of the 29.5 MB gather output.
///
/// The three maps below are the usual bilinear triple (forward, input adjoint, weight adjoint),
/// so the autodiff layer differentiates them to any order as it does convolutions. Loops follow
/// `DirectConvolution`: planes laid out with row stride pw = w + 2, every tap one long vectorised
/// loop over `span` positions (columns >= w of a row are scratch and are zero in gradient planes).
/// Meant for few output channels; wide layers stay on Winograd (`handles`).
public enum UpsampledConvolution {
    /// Output channels up to which the fused path pays (the direct loops run O x C plane pairs).
    public static let maxOutChannels = 4

    /// Whether `Layers`/the autodiff layer should use it for input [N, C, h, w] and weight [O, C, kh, kw].
    public static func handles(input: [Int], weight: [Int]) -> Bool {
        input.count == 4 && weight.count == 4 && weight[1] == input[1] && weight[2] == 3 && weight[3] == 3
            && weight[0] <= maxOutChannels && input[2] >= 1 && input[3] >= 1
    }

    /// Rows (or columns) of the 3x3 kernel summed into tap `p` of phase `a`.
    static let taps: [[ClosedRange<Int>]] = [[0...0, 1...2], [0...1, 2...2]]

    struct Layout {
        let n, c, o, h, w: Int
        init(input: [Int], outChannels: Int) {
            (n, c, h, w, o) = (input[0], input[1], input[2], input[3], outChannels)
        }
        var pw: Int { w + 2 }
        var planeCount: Int { (h + 2) * pw }
        /// Positions each tap's loop runs over: output (i, j) of a phase sits at i * pw + j.
        var span: Int { (h - 1) * pw + w }
        var phasePlane: Int { h * pw }
        var inPlane: Int { h * w }
        var outPlane: Int { 4 * h * w }
        /// Scratch per worker: a padded plane, then O x 4 phase planes.
        var scratchCount: Int { planeCount + o * 4 * phasePlane }
        var outputShape: [Int] { [n, o, 2 * h, 2 * w] }
        var weightShape: [Int] { [o, c, 3, 3] }

        /// Offset in the padded plane of tap (p, q) of phase (a, b).
        @inline(__always) func offset(phase ab: Int, tap pq: Int) -> Int {
            (ab / 2 + pq / 2) * pw + (ab % 2 + pq % 2)
        }

        /// x's plane, edge-padded by one pixel (replicate), into `dst` (planeCount scalars).
        @inline(__always)
        func edgePadded<S: TensorScalar>(_ plane: UnsafePointer<S>, into dst: UnsafeMutablePointer<S>) {
            for r in 0..<(h + 2) {
                let src = plane + min(max(r - 1, 0), h - 1) * w
                let row = dst + r * pw
                row[0] = src[0]
                copyScalars(src, count: w, into: row + 1)
                row[w + 1] = src[w - 1]
            }
        }

        /// Adds a padded plane's gradient into x's plane: each border pixel of the padded plane
        /// was a copy of its nearest edge pixel. `g` is modified (borders folded inwards).
        @inline(__always)
        func foldEdges<S: TensorScalar>(_ g: UnsafeMutablePointer<S>, into plane: UnsafeMutablePointer<S>) {
            for t in 0..<pw {
                g[pw + t] += g[t]
                g[h * pw + t] += g[(h + 1) * pw + t]
            }
            for r in 1...h {
                g[r * pw + 1] += g[r * pw]
                g[r * pw + w] += g[r * pw + w + 1]
            }
            for r in 0..<h { copyScalars(g + (r + 1) * pw + 1, count: w, into: plane + r * w) }
        }

        /// For each row 2i + a of an output-shaped plane [2h, 2w]: that row, and row i of phase
        /// planes (a, 0) and (a, 1) (row stride pw) at `phases`, whose columns it interleaves.
        @inline(__always)
        func forEachOutputRow<S: TensorScalar>(
            _ out: UnsafeMutablePointer<S>, _ phases: UnsafeMutablePointer<S>,
            _ body: (_ row: UnsafeMutablePointer<S>, _ even: UnsafeMutablePointer<S>, _ odd: UnsafeMutablePointer<S>) ->
                Void
        ) {
            for i in 0..<h {
                for a in 0..<2 {
                    body(
                        out + (2 * i + a) * 2 * w, phases + (2 * a) * phasePlane + i * pw,
                        phases + (2 * a + 1) * phasePlane + i * pw)
                }
            }
        }

        /// Output plane [2h, 2w] from the four phase planes at `phases`.
        @inline(__always)
        func interleave<S: TensorScalar>(_ phases: UnsafePointer<S>, into out: UnsafeMutablePointer<S>) {
            forEachOutputRow(out, UnsafeMutablePointer(mutating: phases)) { row, even, odd in
                for j in 0..<w {
                    row[2 * j] = even[j]
                    row[2 * j + 1] = odd[j]
                }
            }
        }

        /// The inverse: the four phase planes of an output-shaped plane, zeros in the scratch columns.
        @inline(__always)
        func deinterleave<S: TensorScalar>(_ out: UnsafePointer<S>, into phases: UnsafeMutablePointer<S>) {
            forEachOutputRow(UnsafeMutablePointer(mutating: out), phases) { row, even, odd in
                for j in 0..<w {
                    even[j] = row[2 * j]
                    odd[j] = row[2 * j + 1]
                }
                for j in w..<pw {
                    even[j] = 0
                    odd[j] = 0
                }
            }
        }
    }

    /// Which tap of the 3x3 kernel feeds which phase-kernel entry: (phase (a, b) * 4 + tap (p, q),
    /// row * 3 + column of w), one pair per summed tap (36 in all: every 3x3 tap reaches four phases).
    static let tapSums: [(phase: Int, kernel: Int)] = (0..<16).flatMap { e in
        let (a, b, p, q) = (e / 8, e / 4 % 2, e / 2 % 2, e % 2)
        return taps[a][p].flatMap { r in taps[b][q].map { t in (e, r * 3 + t) } }
    }

    /// The phase kernels of w [O, C, 3, 3]: [O, C, 4 phases (a, b), 4 taps (p, q)].
    static func phaseKernels<S: TensorScalar>(_ w: UnsafePointer<S>, count oc: Int) -> [S] {
        var k = [S](repeating: 0, count: oc * 16)
        for m in 0..<oc { for (e, t) in tapSums { k[m * 16 + e] += w[m * 9 + t] } }
        return k
    }

    /// The adjoint of `phaseKernels`: dw [O, C, 3, 3] from phase-kernel gradients.
    static func foldPhaseKernels<S: TensorScalar>(_ dk: UnsafePointer<S>, count oc: Int) -> [S] {
        var dw = [S](repeating: 0, count: oc * 9)
        for m in 0..<oc { for (e, t) in tapSums { dw[m * 9 + t] += dk[m * 16 + e] } }
        return dw
    }

    static func flops(_ l: Layout) -> Int { 2 * l.n * l.o * l.c * 9 * 4 * l.h * l.w }

    /// y [N, O, 2h, 2w] = conv3x3(reflectionPad1(upsampleNearest2(x)), w).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func forward<S: TensorScalar>(_ x: Tensor<S>, _ w: Tensor<S>) -> Tensor<S> {
        precondition(handles(input: x.shape, weight: w.shape), "upsampled conv: input \(x.shape), weight \(w.shape)")
        let l = Layout(input: x.shape, outChannels: w.shape[0])
        FlopTally.direct(flops(l))
        let kernels = w.scalars.withUnsafeBufferPointer { phaseKernels($0.baseAddress!, count: l.o * l.c) }
        let (span, inPlane, outPlane) = (l.span, l.inPlane, l.outPlane)
        return Tensor(shape: l.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                kernels.withUnsafeBufferPointer { pk in
                    let (py, px, pk) = (y.baseAddress!, px.baseAddress!, pk.baseAddress!)
                    // Scratch: the padded plane, then the O x 4 phase accumulators.
                    Convolution.forEachSample(l.n, scratch: l.scratchCount) {
                        (n, scratch: UnsafeMutablePointer<S>) in
                        let (plane, acc) = (scratch, scratch + l.planeCount)
                        acc.update(repeating: 0, count: l.o * 4 * l.phasePlane)
                        for ch in 0..<l.c {
                            l.edgePadded(px + (n * l.c + ch) * inPlane, into: plane)
                            for oc in 0..<l.o {
                                let k = pk + (oc * l.c + ch) * 16
                                for ab in 0..<4 {
                                    let out = acc + (oc * 4 + ab) * l.phasePlane
                                    let kk = k + ab * 4
                                    let (k0, k1, k2, k3) = (kk[0], kk[1], kk[2], kk[3])
                                    let s0 = UnsafePointer(plane + l.offset(phase: ab, tap: 0))
                                    let (s1, s2, s3) = (s0 + 1, s0 + l.pw, s0 + l.pw + 1)
                                    for i in 0..<span { out[i] += k0 * s0[i] + k1 * s1[i] + k2 * s2[i] + k3 * s3[i] }
                                }
                            }
                        }
                        for oc in 0..<l.o {
                            l.interleave(
                                UnsafePointer(acc + oc * 4 * l.phasePlane), into: py + (n * l.o + oc) * outPlane)
                        }
                    }
                }
            }
        }
    }

    /// dx [N, C, h, w]: the adjoint of `forward` in x, applied to dy [N, O, 2h, 2w].
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardInput<S: TensorScalar>(_ dy: Tensor<S>, _ w: Tensor<S>) -> Tensor<S> {
        let (o, c) = (w.shape[0], w.shape[1])
        precondition(
            dy.rank == 4 && dy.shape[1] == o && dy.shape[2] % 2 == 0 && dy.shape[3] % 2 == 0
                && handles(input: [dy.shape[0], c, dy.shape[2] / 2, dy.shape[3] / 2], weight: w.shape),
            "upsampled conv input adjoint: gradient \(dy.shape), weight \(w.shape)")
        let l = Layout(input: [dy.shape[0], c, dy.shape[2] / 2, dy.shape[3] / 2], outChannels: o)
        FlopTally.direct(flops(l))
        let kernels = w.scalars.withUnsafeBufferPointer { phaseKernels($0.baseAddress!, count: l.o * l.c) }
        let (span, inPlane, outPlane) = (l.span, l.inPlane, l.outPlane)
        return Tensor(shape: [l.n, l.c, l.h, l.w]) { dx in
            dy.scalars.withUnsafeBufferPointer { pdy in
                kernels.withUnsafeBufferPointer { pk in
                    let (pdx, pdy, pk) = (dx.baseAddress!, pdy.baseAddress!, pk.baseAddress!)
                    // Scratch: the padded plane's gradient, then the O x 4 phase planes of dy.
                    Convolution.forEachSample(l.n, scratch: l.scratchCount) {
                        (n, scratch: UnsafeMutablePointer<S>) in
                        let (plane, d) = (scratch, scratch + l.planeCount)
                        for oc in 0..<l.o {
                            l.deinterleave(pdy + (n * l.o + oc) * outPlane, into: d + oc * 4 * l.phasePlane)
                        }
                        for ch in 0..<l.c {
                            plane.update(repeating: 0, count: l.planeCount)
                            for oc in 0..<l.o {
                                let k = pk + (oc * l.c + ch) * 16
                                for ab in 0..<4 {
                                    let src = UnsafePointer(d + (oc * 4 + ab) * l.phasePlane)
                                    let kk = k + ab * 4
                                    let (k0, k1, k2, k3) = (kk[0], kk[1], kk[2], kk[3])
                                    let t0 = plane + l.offset(phase: ab, tap: 0)
                                    let (t1, t2, t3) = (t0 + 1, t0 + l.pw, t0 + l.pw + 1)
                                    // Four passes, not one: the taps' targets overlap.
                                    for i in 0..<span { t0[i] += k0 * src[i] }
                                    for i in 0..<span { t1[i] += k1 * src[i] }
                                    for i in 0..<span { t2[i] += k2 * src[i] }
                                    for i in 0..<span { t3[i] += k3 * src[i] }
                                }
                            }
                            l.foldEdges(plane, into: pdx + (n * l.c + ch) * inPlane)
                        }
                    }
                }
            }
        }
    }

    /// dw [O, C, 3, 3]: the adjoint of `forward` in w, applied to dy, at input x.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardWeight<S: TensorScalar>(_ x: Tensor<S>, _ dy: Tensor<S>) -> Tensor<S> {
        let o = dy.shape[1]
        precondition(
            x.rank == 4 && dy.shape == [x.shape[0], o, 2 * x.shape[2], 2 * x.shape[3]]
                && handles(input: x.shape, weight: [o, x.shape[1], 3, 3]),
            "upsampled conv weight adjoint: input \(x.shape), gradient \(dy.shape)")
        let l = Layout(input: x.shape, outChannels: o)
        FlopTally.direct(flops(l))
        let (span, inPlane, outPlane) = (l.span, l.inPlane, l.outPlane)
        // Scratch: the padded plane, then the O x 4 phase planes of dy.
        let dk = x.scalars.withUnsafeBufferPointer { px in
            dy.scalars.withUnsafeBufferPointer { pdy in
                let (px, pdy) = (px.baseAddress!, pdy.baseAddress!)
                return Convolution.summedOverSamples(
                    l.n, count: l.o * l.c * 16, scratch: l.scratchCount
                ) { (n, scratch: UnsafeMutablePointer<S>, dk) in
                    let (plane, d) = (scratch, scratch + l.planeCount)
                    for oc in 0..<l.o {
                        l.deinterleave(pdy + (n * l.o + oc) * outPlane, into: d + oc * 4 * l.phasePlane)
                    }
                    for ch in 0..<l.c {
                        l.edgePadded(px + (n * l.c + ch) * inPlane, into: plane)
                        for oc in 0..<l.o {
                            for ab in 0..<4 {
                                let g = UnsafePointer(d + (oc * 4 + ab) * l.phasePlane)
                                for pq in 0..<4 {
                                    dk[(oc * l.c + ch) * 16 + ab * 4 + pq] += contiguousDot(
                                        g, plane + l.offset(phase: ab, tap: pq), span)
                                }
                            }
                        }
                    }
                }
            }
        }
        let dw = dk.withUnsafeBufferPointer { foldPhaseKernels($0.baseAddress!, count: l.o * l.c) }
        return Tensor(shape: l.weightShape, scalars: dw)
    }
}
