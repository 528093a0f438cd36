import Foundation

/// Shapes of a 2-D convolution over NCHW inputs with OIHW weights (O x C/groups x kh x kw).
public struct ConvGeometry: Hashable, Sendable {
    public var batch, inChannels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var stride, padding, groups: Int

    public var outHeight: Int { (height + 2 * padding - kernelH) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelW) / stride + 1 }
    public var inputShape: [Int] { [batch, inChannels, height, width] }
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernelH, kernelW] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
    /// Rows of the im2col matrix of one group.
    var patch: Int { inChannels / groups * kernelH * kernelW }
    var positions: Int { outHeight * outWidth }
    /// 1x1, stride 1, no padding: the input already is its own im2col matrix.
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 }
    public var flops: Double { 2 * Double(batch * outChannels * positions * patch) }

    /// For stride 1, one group and a square kernel with padding p <= k-1, the input adjoint is
    /// itself a convolution: dy padded by k-1-p, convolved with the flipped, channel-swapped
    /// kernel. This is its geometry (nil where that does not hold).
    public var transposedForInputAdjoint: ConvGeometry? {
        guard stride == 1, groups == 1, kernelH == kernelW, padding <= kernelH - 1 else { return nil }
        return ConvGeometry(
            input: outputShape, weight: [inChannels, outChannels, kernelH, kernelW],
            stride: 1, padding: kernelH - 1 - padding, groups: 1)
    }

    public init(input: [Int], weight: [Int], stride: Int, padding: Int, groups: Int) {
        precondition(input.count == 4, "conv2d: input must be NCHW (rank 4), got shape \(input)")
        precondition(weight.count == 4, "conv2d: weight must be O x C/groups x kh x kw, got shape \(weight)")
        precondition(
            stride >= 1 && padding >= 0 && groups >= 1,
            "conv2d: stride \(stride) must be >= 1, padding \(padding) >= 0, groups \(groups) >= 1")
        (batch, inChannels, height, width) = (input[0], input[1], input[2], input[3])
        (outChannels, kernelH, kernelW) = (weight[0], weight[2], weight[3])
        (self.stride, self.padding, self.groups) = (stride, padding, groups)
        precondition(
            inChannels % groups == 0 && outChannels % groups == 0,
            "conv2d: channels in \(inChannels) and out \(outChannels) must divide by groups \(groups)")
        precondition(
            weight[1] * groups == inChannels,
            "conv2d: weight \(weight) expects \(weight[1] * groups) input channels, input \(input) has \(inChannels)")
        precondition(
            height + 2 * padding >= kernelH && width + 2 * padding >= kernelW,
            "conv2d: kernel \(kernelH)x\(kernelW) larger than padded input \(input) (padding \(padding))")
    }
}

/// How a convolution is computed. Every algorithm gives the same linear maps (up to rounding).
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    /// Per geometry: Winograd F(4x4, 3x3) or F(2x2, 3x3) (whichever needs fewer products) for
    /// wide 3x3 stride-1 layers, direct loops for 1-4 output channels, im2col + gemm for the rest
    /// (`resolved(for:)`); and the generator's upsample-then-convolve layers from the small input
    /// (`UpsampledConvolution`, through `upsampledConv2d`).
    case automatic
    /// Patch matrices and one gemm per sample: any geometry.
    case im2col
    /// Winograd F(2x2, 3x3): 3x3, stride 1, one group, padding <= 2 (a precondition).
    case winograd
    /// Winograd F(4x4, 3x3), same geometries: 2.25 multiplies per output and channel pair
    /// instead of 4, at the price of transforms that round a little more.
    case winograd4
    /// Direct loops (stride 1, one group; a precondition) for the forward map and the weight
    /// adjoint; the input adjoint then runs im2col on the flipped kernel where it can.
    case direct

    /// The algorithm convolutions use when their caller names none: `automatic`, unless the
    /// environment's GTN_CONV names another (for A/B measurements). Task-local, so a scope can
    /// run on another (`ConvAlgorithm.$current.withValue(.im2col) { ... }`), as the tests that
    /// compare whole meta-gradients across algorithms do.
    @TaskLocal public static var current =
        ConvAlgorithm(rawValue: ProcessInfo.processInfo.environment["GTN_CONV"] ?? "") ?? .automatic

    /// Whether this algorithm computes convolutions of geometry `g` (and both their adjoints).
    public func supports(_ g: ConvGeometry) -> Bool {
        switch self {
        case .automatic, .im2col: true
        case .winograd, .winograd4: Winograd.handles(g)
        case .direct: DirectConvolution.handles(g)
        }
    }

    /// The Winograd tile this algorithm computes with (nil for the others).
    var winogradTile: Winograd.Tile? {
        switch self {
        case .winograd: .two
        case .winograd4: .four
        default: nil
        }
    }

    /// The algorithm that runs for `g`. Winograd's gemms have k = channels in or out, so they pay
    /// only when both are wide (the learner's 1->64 layer stays im2col; the generator's 64->1
    /// layer runs direct loops); measured in docs/NOTES.md.
    public func resolved(for g: ConvGeometry) -> ConvAlgorithm {
        guard self == .automatic else { return self }
        if Winograd.handles(g) && g.inChannels >= 16 && g.outChannels >= 16 {
            switch Winograd.preferredTile(for: g) {
            case .two: return .winograd
            case .four: return .winograd4
            }
        }
        // One to four output rows of gemm per sample: gemv speed (see DirectConv.swift).
        if DirectConvolution.handles(g) && g.outChannels <= 4 && g.kernelH * g.kernelW > 1 { return .direct }
        return .im2col
    }
}

/// Convolution as im2col + gemm, one sample per worker at a time so that each worker's patch
/// matrix stays in cache and OpenBLAS runs single-threaded on it; or, where `ConvAlgorithm` says
/// so, as Winograd F(2x2, 3x3) or F(4x4, 3x3) (Winograd.swift) or direct loops (DirectConv.swift).
///
/// The three functions are the bilinear map y = conv(x, w) and its two adjoints; together they
/// are closed under differentiation (see GTNAutodiff's conv rules).
public enum Convolution {
    /// y[n] = conv(x[n], w)
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func forward<S: TensorScalar>(
        _ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry,
        algorithm: ConvAlgorithm = .current
    ) -> Tensor<S> {
        check(x.shape, g.inputShape, "input")
        check(w.shape, g.weightShape, "weight")
        FlopTally.direct(Int(g.flops))
        let resolved = algorithm.resolved(for: g)
        if let tile = resolved.winogradTile { return Winograd.forward(x, w, g, tile: tile) }
        if resolved == .direct { return DirectConvolution.forward(x, w, g) }
        let (og, k, p) = (g.outChannels / g.groups, g.patch, g.positions)
        let (inPer, outPer, cg) = (g.inChannels * g.height * g.width, g.outChannels * p, g.inChannels / g.groups)
        // One sample's product: (og x k) by (k x p), e.g. 64 x 9 by 9 x 784 in the learner's first layer.
        let product = SmallGemm<S>(m: og, n: p, k: k, lda: k, ldb: p, ldc: p, accumulate: false)
        return Tensor(shape: g.outputShape) { y in
            x.scalars.withUnsafeBufferPointer { px in
                w.scalars.withUnsafeBufferPointer { pw in
                    let y = y
                    forEachSample(g.batch, scratch: g.isPointwise ? 0 : k * p) { n, cols in
                        for grp in 0..<g.groups {
                            let xin = px.baseAddress! + n * inPer + grp * cg * g.height * g.width
                            product(
                                pw.baseAddress! + grp * og * k, columns(xin, g, cols),
                                y.baseAddress! + n * outPer + grp * og * p)
                        }
                    }
                }
            }
        }
    }

    /// Whether `forwardMaxPooled` has a kernel: Float, a 3x3 pool with stride 1 or 2 and padding
    /// 0 or 1, and a layer that runs as one im2col product per sample.
    public static func fusesMaxPool<S: TensorScalar>(
        _: S.Type, _ g: ConvGeometry, poolStride: Int, poolPadding: Int, algorithm: ConvAlgorithm = .current
    ) -> Bool {
        S.self == Float.self && g.groups == 1 && !g.isPointwise && algorithm.resolved(for: g) == .im2col
            && (poolStride == 1 || poolStride == 2) && (poolPadding == 0 || poolPadding == 1)
            && g.outHeight + 2 * poolPadding >= 3 && g.outWidth + 2 * poolPadding >= 3
    }

    /// `GatherMap.maxPooled(forward(x, w, g), kernel: 3, stride: poolStride, padding: poolPadding)`
    /// without the convolution's output ever reaching memory: each worker pools its sample's
    /// planes straight from the scratch its product wrote them to, while they are in cache. The
    /// learner's first layer otherwise writes 25.7 MB per forward that max pooling reads straight
    /// back. Same products, same pooling, so the same bits and map (whose indices refer to the
    /// convolution's output). Only where `fusesMaxPool` says so; elsewhere run the two passes.
    public static func forwardMaxPooled<S: TensorScalar>(
        _ x: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry, poolStride: Int, poolPadding: Int,
        algorithm: ConvAlgorithm = .current
    ) -> (map: GatherMap, values: Tensor<S>) {
        precondition(
            fusesMaxPool(S.self, g, poolStride: poolStride, poolPadding: poolPadding, algorithm: algorithm),
            "forwardMaxPooled: no fused kernel for \(S.self) geometry \(g), pool stride \(poolStride) padding \(poolPadding)"
        )
        check(x.shape, g.inputShape, "input")
        check(w.shape, g.weightShape, "weight")
        FlopTally.direct(Int(g.flops))
        let (o, k, p, h, wd) = (g.outChannels, g.patch, g.positions, g.outHeight, g.outWidth)
        let (oh, ow) = ((h + 2 * poolPadding - 3) / poolStride + 1, (wd + 2 * poolPadding - 3) / poolStride + 1)
        let inPer = g.inChannels * g.height * g.width
        let product = SmallGemm<S>(m: o, n: p, k: k, lda: k, ldb: p, ldc: p, accumulate: false)
        let pooledShape = [g.batch, o, oh, ow]
        var indices = [Int32](repeating: 0, count: g.batch * o * oh * ow)
        let pooled = Tensor<S>(shape: pooledShape) { out in
            let out = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: Float.self)
            x.scalars.withUnsafeBufferPointer { px in
                w.scalars.withUnsafeBufferPointer { pw in
                    indices.withUnsafeMutableBufferPointer { idx in
                        let idx = idx.baseAddress!
                        forEachSample(g.batch, scratch: k * p + o * p) { (n, scratch: UnsafeMutablePointer<S>) in
                            let y = scratch + k * p
                            product(pw.baseAddress!, columns(px.baseAddress! + n * inPer, g, scratch), y)
                            MaxPool3x3.pool(
                                UnsafeRawPointer(y).assumingMemoryBound(to: Float.self), planes: n * o..<(n + 1) * o,
                                firstPlane: n * o, h: h, w: wd, step: poolStride, padding: poolPadding, out: idx,
                                values: out)
                        }
                    }
                }
            }
        }
        let map = GatherMap(
            sourceShape: g.outputShape, outputShape: pooledShape, indices: indices, independentPlanes: g.batch * o)
        return (map, pooled)
    }

    /// dx = adjoint of conv in x, applied to dy.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardInput<S: TensorScalar>(
        _ dy: Tensor<S>, _ w: Tensor<S>, _ g: ConvGeometry,
        algorithm: ConvAlgorithm = .current
    ) -> Tensor<S> {
        check(dy.shape, g.outputShape, "output gradient")
        check(w.shape, g.weightShape, "weight")
        if let transposed = g.transposedForInputAdjoint,
            g.outChannels < g.inChannels || algorithm.resolved(for: transposed).winogradTile != nil
        {
            // The adjoint as a convolution of dy with the flipped kernel. For a narrowing layer
            // col2im would scatter-add a (C_in*k*k) x positions matrix per sample (the generator's
            // 64->1 layer: 576 x 784 for a 1-row gemm), while this only gathers C_out*k*k rows;
            // for a 3x3 layer it is a Winograd forward. Measured: see docs/NOTES.md.
            return forward(dy, flippedTransposed(w, g), transposed, algorithm: algorithm)
        }
        precondition(algorithm.winogradTile == nil, "Winograd: no input adjoint for geometry \(g)")
        FlopTally.direct(Int(g.flops))  // (the branch above is counted by forward)
        let outPer = g.outChannels * g.positions
        return dy.scalars.withUnsafeBufferPointer { pdy in
            im2colBackwardInput(w, g) { n, _ in pdy.baseAddress! + n * outPer }
        }
    }

    /// Whether the input adjoint of `g` runs as im2col products and col2im (not as a convolution
    /// with the flipped kernel: `backwardInput`'s first branch).
    static func backwardInputIsIm2col(_ g: ConvGeometry, algorithm: ConvAlgorithm) -> Bool {
        guard let t = g.transposedForInputAdjoint else { return true }
        return !(g.outChannels < g.inChannels || algorithm.resolved(for: t).winogradTile != nil)
    }

    /// The im2col input adjoint: per sample and group, cols = wᵀ dy_n, then col2im into dx_n.
    /// `sampleGradient(n, scratch)` gives sample n's output gradient, [C_out, positions]; it may
    /// write it into `scratch`, `extraScratch` scalars of the worker's own (after the patch matrix).
    @inline(__always)
    static func im2colBackwardInput<S: TensorScalar>(
        _ w: Tensor<S>, _ g: ConvGeometry, extraScratch: Int = 0,
        sampleGradient: (_ n: Int, _ scratch: UnsafeMutablePointer<S>) -> UnsafePointer<S>
    ) -> Tensor<S> {
        let (og, k, p) = (g.outChannels / g.groups, g.patch, g.positions)
        let (inPer, cg) = (g.inChannels * g.height * g.width, g.inChannels / g.groups)
        return Tensor(shape: g.inputShape) { dx in
            w.scalars.withUnsafeBufferPointer { pw in
                let dx = dx
                forEachSample(g.batch, scratch: k * p + extraScratch) { n, cols in
                    let dy = sampleGradient(n, cols + k * p)
                    for grp in 0..<g.groups {
                        let xout = dx.baseAddress! + n * inPer + grp * cg * g.height * g.width
                        // Pointwise: the patch matrix is dx itself, so gemm writes it directly.
                        let target = g.isPointwise ? xout : cols
                        S.gemm(
                            transA: true, transB: false, m: k, n: p, k: og, alpha: 1,
                            a: pw.baseAddress! + grp * og * k, lda: k, b: dy + grp * og * p, ldb: p,
                            beta: 0, c: target, ldc: p)
                        if !g.isPointwise { col2im(cols, g, xout) }
                    }
                }
            }
        }
    }

    /// dw = adjoint of conv in w: sum over samples of dy[n] x patches(x[n])ᵀ.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardWeight<S: TensorScalar>(
        _ x: Tensor<S>, _ dy: Tensor<S>, _ g: ConvGeometry,
        algorithm: ConvAlgorithm = .current
    ) -> Tensor<S> {
        check(x.shape, g.inputShape, "input")
        check(dy.shape, g.outputShape, "output gradient")
        FlopTally.direct(Int(g.flops))
        let resolved = algorithm.resolved(for: g)
        if let tile = resolved.winogradTile { return Winograd.backwardWeight(x, dy, g, tile: tile) }
        if resolved == .direct { return DirectConvolution.backwardWeight(x, dy, g) }
        let outPer = g.outChannels * g.positions
        return dy.scalars.withUnsafeBufferPointer { pdy in
            im2colBackwardWeight(x, g) { n, _ in pdy.baseAddress! + n * outPer }
        }
    }

    /// The im2col weight adjoint: dw += dy_n cols(x_n)ᵀ for every sample n and group, each worker into
    /// its own partial sum, then the partial sums added. `sampleGradient(n, scratch)` gives sample
    /// n's output gradient, [C_out, positions]; it may write it into `scratch`, `extraScratch`
    /// scalars of the worker's own (after the patch matrix).
    @inline(__always)
    static func im2colBackwardWeight<S: TensorScalar>(
        _ x: Tensor<S>, _ g: ConvGeometry, extraScratch: Int = 0,
        sampleGradient: (_ n: Int, _ scratch: UnsafeMutablePointer<S>) -> UnsafePointer<S>
    ) -> Tensor<S> {
        let (og, k, p) = (g.outChannels / g.groups, g.patch, g.positions)
        let (inPer, cg) = (g.inChannels * g.height * g.width, g.inChannels / g.groups)
        let colsCount = g.isPointwise ? 0 : k * p
        let dw = x.scalars.withUnsafeBufferPointer { px in
            summedOverSamples(g.batch, count: g.outChannels * k, scratch: colsCount + extraScratch) {
                (n, cols: UnsafeMutablePointer<S>, acc) in
                let dy = sampleGradient(n, cols + colsCount)
                for grp in 0..<g.groups {
                    let xin = px.baseAddress! + n * inPer + grp * cg * g.height * g.width
                    let b = columns(xin, g, cols)
                    S.gemm(
                        transA: false, transB: true, m: og, n: k, k: p, alpha: 1, a: dy + grp * og * p, lda: p,
                        b: b, ldb: p, beta: 1, c: acc + grp * og * k, ldc: k)
                }
            }
        }
        return Tensor(shape: g.weightShape, scalars: dw)
    }

    /// A sum over the batch of `count` scalars (a weight adjoint): each worker adds its samples'
    /// shares into its own partial sum (`body(n, scratch, partial)`, samples in order), and the
    /// partial sums are added in a fixed order, so the result does not depend on timing.
    /// `scratch` scalars per worker (uninitialised).
    @inline(__always)
    static func summedOverSamples<S: TensorScalar>(
        _ batch: Int, count: Int, scratch: Int,
        _ body: (_ n: Int, _ scratch: UnsafeMutablePointer<S>, _ partial: UnsafeMutablePointer<S>) -> Void
    ) -> [S] {
        let chunks = max(1, min(workerCount, batch))
        var partial = [S](repeating: 0, count: count * chunks)
        partial.withUnsafeMutableBufferPointer { acc in
            let acc = acc
            forEachSample(batch, scratch: scratch) { n, s, worker in body(n, s, acc.baseAddress! + worker * count) }
            for c in 1..<chunks { for i in 0..<count { acc[i] += acc[c * count + i] } }
        }
        return Array(partial.prefix(count))
    }

    /// `backwardWeight(x, dyPooled.scatteredAdd(map), g)` without the scattered gradient reaching
    /// memory: each worker scatters its sample's planes into scratch and takes the product from
    /// there. The weight adjoint of `forwardMaxPooled`'s layer in the inner loop's recorded
    /// backward pass, where the scattered gradient (25.7 MB in the learner's first layer) would
    /// otherwise be kept with every step's graph. The same products in the same order: the same
    /// bits. For a layer that runs as im2col products, and a map with a plane per sample and channel.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardWeightScattered<S: TensorScalar>(
        _ x: Tensor<S>, _ dyPooled: Tensor<S>, _ map: GatherMap, _ g: ConvGeometry,
        algorithm: ConvAlgorithm = .current
    ) -> Tensor<S> {
        check(x.shape, g.inputShape, "input")
        check(map.sourceShape, g.outputShape, "scatter map's source")
        check(dyPooled.shape, map.outputShape, "pooled output gradient")
        precondition(
            g.groups == 1 && algorithm.resolved(for: g) == .im2col && map.independentPlanes == g.batch * g.outChannels,
            "backwardWeightScattered: geometry \(g) is not one im2col product per sample, or the map's "
                + "\(map.independentPlanes) planes are not one per sample and channel")
        FlopTally.direct(Int(g.flops))
        return scatteringSamples(dyPooled, map, channels: g.outChannels) {
            im2colBackwardWeight(x, g, extraScratch: g.outChannels * g.positions, sampleGradient: $0)
        }
    }

    /// Calls `body` with a per-sample gradient source for the im2col skeletons that scatters
    /// sample n's pooled planes (`dyPooled`, through `map`: one plane per sample and channel)
    /// into the worker's scratch, where the product then reads them while they are in cache.
    @inline(__always)
    static func scatteringSamples<S: TensorScalar, R>(
        _ dyPooled: Tensor<S>, _ map: GatherMap, channels o: Int,
        _ body: ((_ n: Int, _ scratch: UnsafeMutablePointer<S>) -> UnsafePointer<S>) -> R
    ) -> R {
        let (table, relative) = map.offsets
        return dyPooled.scalars.withUnsafeBufferPointer { pdy in
            table.withUnsafeBufferPointer { idx in
                body { n, dy in
                    map.scatterPlanes(
                        n * o..<(n + 1) * o, table: (idx.baseAddress!, relative), from: pdy.baseAddress!, into: dy)
                    return UnsafePointer(dy)
                }
            }
        }
    }

    /// Whether `backwardInputScattered` has a kernel: a layer whose input adjoint runs as im2col
    /// products (the learner's first, widening, layer) and whose weight adjoint does too (this
    /// op's pullback uses `backwardWeightScattered`), with a map of one plane per sample and channel.
    public static func scattersIntoInputAdjoint(
        _ g: ConvGeometry, _ map: GatherMap, algorithm: ConvAlgorithm = .current
    ) -> Bool {
        g.groups == 1 && backwardInputIsIm2col(g, algorithm: algorithm) && algorithm.resolved(for: g) == .im2col
            && map.sourceShape == g.outputShape && map.independentPlanes == g.batch * g.outChannels
    }

    /// `backwardInput(dyPooled.scatteredAdd(map), w, g)` without the scattered gradient reaching
    /// memory: each worker scatters its sample's planes into scratch and takes the product from
    /// there. The meta-backward pass's input adjoint of the learner's first layer
    /// (`forwardMaxPooled`), which had written and read back 25.7 MB per call. The same products
    /// in the same order: the same bits. Only where `scattersIntoInputAdjoint` says so.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func backwardInputScattered<S: TensorScalar>(
        _ dyPooled: Tensor<S>, _ w: Tensor<S>, _ map: GatherMap, _ g: ConvGeometry,
        algorithm: ConvAlgorithm = .current
    ) -> Tensor<S> {
        check(w.shape, g.weightShape, "weight")
        check(dyPooled.shape, map.outputShape, "pooled output gradient")
        precondition(
            scattersIntoInputAdjoint(g, map, algorithm: algorithm),
            "backwardInputScattered: geometry \(g) has no im2col input adjoint, or the map's "
                + "\(map.independentPlanes) planes are not one per sample and channel")
        FlopTally.direct(Int(g.flops))
        return scatteringSamples(dyPooled, map, channels: g.outChannels) {
            im2colBackwardInput(w, g, extraScratch: g.outChannels * g.positions, sampleGradient: $0)
        }
    }

    /// w[o, c, i, j] -> w'[c, o, k-1-i, k-1-j]: the kernel of the input adjoint as a convolution.
    @_specialize(where S == Float) @_specialize(where S == Double)
    static func flippedTransposed<S: TensorScalar>(_ w: Tensor<S>, _ g: ConvGeometry) -> Tensor<S> {
        let (o, c, kh, kw) = (g.outChannels, g.inChannels, g.kernelH, g.kernelW)
        return Tensor(shape: [c, o, kh, kw]) { out in
            w.scalars.withUnsafeBufferPointer { pw in
                for oi in 0..<o {
                    for ci in 0..<c {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                out[((ci * o + oi) * kh + kh - 1 - i) * kw + kw - 1 - j] =
                                    pw[((oi * c + ci) * kh + i) * kw + j]
                            }
                        }
                    }
                }
            }
        }
    }

    private static func check(_ got: [Int], _ want: [Int], _ what: String) {
        precondition(got == want, "conv2d: \(what) has shape \(got), geometry needs \(want)")
    }

    /// Splits samples over the workers; each worker gets its own (uninitialised) scratch buffer.
    @inline(__always)
    static func forEachSample<S: TensorScalar>(
        _ batch: Int, scratch: Int,
        _ body: (_ n: Int, _ scratch: UnsafeMutablePointer<S>) -> Void
    ) {
        forEachSample(batch, scratch: scratch) { n, s, _ in body(n, s) }
    }

    @inline(__always)
    static func forEachSample<S: TensorScalar>(
        _ batch: Int, scratch: Int,
        _ body: (_ n: Int, _ scratch: UnsafeMutablePointer<S>, _ worker: Int) -> Void
    ) {
        let chunks = max(1, min(workerCount, batch))
        withoutActuallyEscaping(body) { body in
            let run = { (c: Int) in
                let buf = UnsafeMutablePointer<S>.allocate(capacity: max(scratch, 1))
                defer { buf.deallocate() }
                for n in (batch * c / chunks)..<(batch * (c + 1) / chunks) { body(n, buf, c) }
            }
            if chunks == 1 { run(0) } else { DispatchQueueHelper.concurrent(chunks, run) }
        }
    }

    /// One sample's group as gemm's [C*kh*kw, outH*outW] operand: a 1x1 stride-1 unpadded input
    /// already is that matrix; anything else is unrolled into `cols` (im2col).
    @inline(__always)
    static func columns<S: TensorScalar>(_ x: UnsafePointer<S>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<S>)
        -> UnsafePointer<S>
    {
        if g.isPointwise { return x }
        im2col(x, g, cols)
        return UnsafePointer(cols)
    }

    /// Patch matrix of one group of one sample: row (c, i, j), column (oh, ow).
    @inline(__always)
    static func im2col<S: TensorScalar>(_ x: UnsafePointer<S>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<S>) {
        let (h, w, oh, ow, s, pad) = (g.height, g.width, g.outHeight, g.outWidth, g.stride, g.padding)
        var row = 0
        for c in 0..<(g.inChannels / g.groups) {
            let plane = x + c * h * w
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let dst = cols + row * oh * ow
                    for r in 0..<oh {
                        let ih = r * s - pad + i
                        let d = dst + r * ow
                        if ih < 0 || ih >= h {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + ih * w
                        if s == 1 {
                            // Columns whose input index iw = q - pad + j falls inside [0, w).
                            let lo = min(ow, max(0, pad - j))
                            let hi = max(lo, min(ow, w + pad - j))
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { (d + lo).update(from: src + (lo - pad + j), count: hi - lo) }
                            if ow > hi { (d + hi).update(repeating: 0, count: ow - hi) }
                        } else {
                            for q in 0..<ow {
                                let iw = q * s - pad + j
                                d[q] = iw >= 0 && iw < w ? src[iw] : 0
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Adjoint of im2col: adds every patch entry back to the input position it was read from.
    @inline(__always)
    static func col2im<S: TensorScalar>(_ cols: UnsafePointer<S>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<S>) {
        let (h, w, oh, ow, s, pad) = (g.height, g.width, g.outHeight, g.outWidth, g.stride, g.padding)
        let cg = g.inChannels / g.groups
        x.update(repeating: 0, count: cg * h * w)
        var row = 0
        for c in 0..<cg {
            let plane = x + c * h * w
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let src = cols + row * oh * ow
                    for r in 0..<oh {
                        let ih = r * s - pad + i
                        if ih < 0 || ih >= h { continue }
                        let dst = plane + ih * w
                        let srow = src + r * ow
                        if s == 1 {
                            let lo = min(ow, max(0, pad - j))
                            let hi = max(lo, min(ow, w + pad - j))
                            let off = -pad + j
                            for q in lo..<hi { dst[q + off] += srow[q] }
                        } else {
                            for q in 0..<ow {
                                let iw = q * s - pad + j
                                if iw >= 0 && iw < w { dst[iw] += srow[q] }
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
