import GTNTensor

// Every differentiable primitive: its forward on tensors, and its pullback written in terms of
// other primitives (so that pullbacks are themselves differentiable). Everything else in GTN --
// log-softmax, losses, batch norms, weight norm, optimisers -- is composed of these.

// MARK: Elementwise arithmetic (numpy broadcasting; the pullback sums back to each shape)

extension Variable {
    public static func + (a: Variable, b: Variable) -> Variable {
        record(a.value + b.value, "add", [a, b]) { g, _, needs in
            [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? g.sum(toShape: b.shape) : nil]
        }
    }

    public static func - (a: Variable, b: Variable) -> Variable {
        record(a.value - b.value, "subtract", [a, b]) { g, _, needs in
            // Negating after the reduction when b broadcasts: one full-size pass fewer, and
            // bitwise the same (round-to-nearest is symmetric, so every partial sum just flips sign).
            [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? -(g.sum(toShape: b.shape)) : nil]
        }
    }

    public static func * (a: Variable, b: Variable) -> Variable {
        record(a.value * b.value, "multiply", [a, b]) { g, _, needs in
            [needs[0] ? (g * b).sum(toShape: a.shape) : nil, needs[1] ? (g * a).sum(toShape: b.shape) : nil]
        }
    }

    public static func / (a: Variable, b: Variable) -> Variable {
        record(a.value / b.value, "divide", [a, b]) { g, out, needs in
            [
                needs[0] ? (g / b).sum(toShape: a.shape) : nil,
                needs[1] ? (-(g * out) / b).sum(toShape: b.shape) : nil,
            ]
        }
    }

    public static prefix func - (a: Variable) -> Variable {
        record(-a.value, "negate", [a]) { g, _, _ in [-g] }
    }

    /// Multiplication by a constant number.
    public static func * (a: Variable, s: S) -> Variable {
        record(a.value * s, "scale", [a]) { g, _, _ in [g * s] }
    }

    /// Addition of a constant number.
    public static func + (a: Variable, s: S) -> Variable {
        record(a.value + s, "shift", [a]) { g, _, _ in [g] }
    }

    public static func * (s: S, a: Variable) -> Variable { a * s }
    public static func - (a: Variable, s: S) -> Variable { a + (-s) }
    public static func / (a: Variable, s: S) -> Variable { a * (1 / s) }
}

// MARK: Unary maps

extension Variable {
    public func exp() -> Variable {
        Variable.record(value.exp(), "exp", [self]) { g, out, _ in [g * out] }
    }

    public func log() -> Variable {
        Variable.record(value.log(), "log", [self]) { g, _, _ in [g / self] }
    }

    public func tanh() -> Variable {
        Variable.record(value.tanh(), "tanh", [self]) { g, out, _ in [g * (1 - out * out)] }
    }

    public func sqrt() -> Variable {
        Variable.record(value.sqrt(), "sqrt", [self]) { g, out, _ in [g * 0.5 / out] }
    }

    /// x^p for a constant exponent p.
    public func pow(_ p: S) -> Variable {
        Variable.record(value.pow(p), "pow", [self]) { g, _, _ in [g * self.pow(p - 1) * p] }
    }

    /// x for x > 0, slope * x otherwise. Its derivative is piecewise constant, so the pullback is
    /// `leakyReluGradient`, linear in the gradient (second derivative zero away from 0).
    public func leakyRelu(slope: S) -> Variable {
        Variable.record(value.leakyRelu(slope: slope), "leakyRelu", [self]) { g, _, _ in
            [g.leakyReluGradient(at: self.value, slope: slope)]
        }
    }

    /// This gradient where x > 0, times slope elsewhere: leakyRelu's pullback as one primitive
    /// (no mask tensor is made or kept). Linear in the gradient, so its own pullback is itself.
    public func leakyReluGradient(at x: Tensor<S>, slope: S) -> Variable {
        Variable.record(value.leakyReluGradient(at: x, slope: slope), "leakyReluGradient", [self]) { g, _, _ in
            [g.leakyReluGradient(at: x, slope: slope)]
        }
    }

    public static func - (s: S, a: Variable) -> Variable { -a + s }
}

// MARK: Fused chains (one pass where the plain ops would make full-size temporaries)
//
// The inner loop's hot chains are unrolled T times and differentiated twice, so every full-size
// pass they save is saved some 10-20 times per step. Each pullback is again made of primitives.

extension Variable {
    /// self * a + y, for `a` one number held in a variable (shape [] or [1]): the momentum step
    /// v m + g and the update w - lr v. Its pullback needs no product tensor either: a scaled
    /// gradient for self, a dot product for a.
    public func multiplyAdd(_ a: Variable, _ y: Variable) -> Variable {
        precondition(a.value.count == 1, "multiplyAdd: the factor must be one number, got shape \(a.shape)")
        return Variable.record(Tensor.multiplyAdd(value, a.value.scalars[0], y.value), "multiplyAdd", [self, a, y]) {
            g, _, needs in
            [needs[0] ? g.scaled(by: a) : nil, needs[1] ? g.dot(self).reshaped(a.shape) : nil, needs[2] ? g : nil]
        }
    }

    /// self * a for `a` one number held in a variable (shape [] or [1]).
    public func scaled(by a: Variable) -> Variable {
        precondition(a.value.count == 1, "scaled(by:): the factor must be one number, got shape \(a.shape)")
        return Variable.record(value * a.value.scalars[0], "scaledBy", [self, a]) { g, _, needs in
            [needs[0] ? g.scaled(by: a) : nil, needs[1] ? g.dot(self).reshaped(a.shape) : nil]
        }
    }

    /// Σ self_i b_i, shape [].
    public func dot(_ b: Variable) -> Variable {
        Variable.record(Tensor(Tensor.dot(value, b.value)), "dot", [self, b]) { g, _, needs in
            [needs[0] ? b.scaled(by: g) : nil, needs[1] ? self.scaled(by: g) : nil]
        }
    }

    /// Σ x² over the dimensions along which `shape` broadcasts to this variable's (weight norm's
    /// squared norms, batch norm's variance). Pullback: 2 x g, one broadcasting multiply.
    public func sumOfSquares(toShape shape: [Int]) -> Variable {
        Variable.record(value.sumOfSquares(toShape: shape), "sumOfSquares", [self]) { g, _, _ in [self * (g * 2)] }
    }

    /// self - mean(self over `axes`) + shift (shift broadcasts along `axes`; nil for none) in one
    /// pass over self: mean-only batch norm. Centring is a symmetric projection, so its pullback
    /// is the centring of the gradient (no broadcast of the mean's gradient, no extra add).
    /// `mean` may pass self's mean over `axes` when the caller has it; it must be that value.
    public func centred(alongAxes axes: [Int], plus shift: Variable? = nil, mean: Tensor<S>? = nil) -> Variable {
        let kept = keptShape(shape, reducing: axes, "centred(alongAxes:)")
        let n = axes.reduce(1) { $0 * shape[$1] }
        let m = mean ?? value.sum(toShape: kept) * (1 / S(n))
        precondition(m.shape == kept, "centred(alongAxes:): mean of shape \(m.shape), expected \(kept)")
        let offset = shift.map { $0.value - m } ?? -m
        let parents = shift.map { [self, $0] } ?? [self]
        return Variable.record(value + offset, "centre", parents) { g, _, needs in
            [
                needs[0] ? g.centred(alongAxes: axes) : nil,
                needs.count > 1 && needs[1] ? g.sum(toShape: shift!.shape) : nil,
            ]
        }
    }
}

// MARK: Shapes: reductions, broadcasting, views

extension Variable {
    /// Sums over the dimensions along which `shape` broadcasts to this variable's shape.
    public func sum(toShape shape: [Int]) -> Variable {
        if shape == self.shape { return self }
        return Variable.record(value.sum(toShape: shape), "sum", [self]) { g, _, _ in [g.broadcast(to: self.shape)] }
    }

    public func broadcast(to shape: [Int]) -> Variable {
        if shape == self.shape { return self }
        return Variable.record(value.broadcast(to: shape), "broadcast", [self]) { g, _, _ in
            [g.sum(toShape: self.shape)]
        }
    }

    public func reshaped(_ shape: [Int]) -> Variable {
        let v = value.reshaped(shape)
        if v.shape == self.shape { return self }
        return Variable.record(v, "reshape", [self]) { g, _, _ in [g.reshaped(self.shape)] }
    }

    public func permuted(_ axes: [Int]) -> Variable {
        var inverse = axes
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return Variable.record(value.permuted(axes), "permute", [self]) { g, _, _ in [g.permuted(inverse)] }
    }

    /// Reads a fixed set of positions (padding, upsampling, slicing, pooling; see `GatherMap`).
    public func gathered(_ map: GatherMap) -> Variable {
        recordGather(value.gathered(map), map)
    }

    /// `gathered(map)` whose value, `self.value.gathered(map)`, is already known (max pooling finds
    /// each window's maximum together with its index).
    public func gathered(_ map: GatherMap, value gatheredValue: Tensor<S>) -> Variable {
        precondition(
            gatheredValue.shape == map.outputShape,
            "gather: value of shape \(gatheredValue.shape), map gives \(map.outputShape)")
        return recordGather(gatheredValue, map)
    }

    /// (An autoclosure, so that the profiler times the gather where it is computed here.)
    private func recordGather(_ compute: @autoclosure () -> Tensor<S>, _ map: GatherMap) -> Variable {
        Variable.record(compute(), "gather", [self]) { g, _, _ in [g.scatteredAdd(map)] }
    }

    /// The adjoint of `gathered`.
    public func scatteredAdd(_ map: GatherMap) -> Variable {
        Variable.record(value.scatteredAdd(map), "scatterAdd", [self]) { g, _, _ in [g.gathered(map)] }
    }
}

// MARK: Linear algebra

/// op(a) x op(b) for rank-2 variables (op transposes when asked).
public func matmul<S>(
    _ a: Variable<S>, _ b: Variable<S>,
    transposeA ta: Bool = false, transposeB tb: Bool = false
) -> Variable<S> {
    let k = ta ? a.shape[0] : a.shape[1]
    return Variable.record(
        Tensor.matmul(a.value, b.value, transposeA: ta, transposeB: tb), "matmul", [a, b],
        replayCost: 2 * k
    ) { g, _, needs in
        let ga =
            !needs[0]
            ? nil
            : ta
                ? matmul(b, g, transposeA: tb, transposeB: true)
                : matmul(g, b, transposeB: !tb)
        let gb =
            !needs[1]
            ? nil
            : tb
                ? matmul(g, a, transposeA: true, transposeB: ta)
                : matmul(a, g, transposeA: !ta)
        return [ga, gb]
    }
}

// The convolution y = C(x, w) is bilinear, and so are its adjoints Bx(dy, w) (in x) and
// Bw(x, dy) (in w). The three pullbacks below only ever produce these three maps, which is what
// makes convolution differentiable to any order:
//   C(x, w):   dx = Bx(g, w),  dw = Bw(x, g)
//   Bx(d, w):  dd = C(g, w),   dw = Bw(g, d)
//   Bw(x, d):  dx = Bx(d, g),  dd = C(x, g)

/// 2-D convolution, NCHW input and OIHW weight, square stride and padding, grouped when asked.
public func conv2d<S>(
    _ x: Variable<S>, _ w: Variable<S>, stride: Int = 1, padding: Int = 0,
    groups: Int = 1
) -> Variable<S> {
    conv2d(x, w, ConvGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding, groups: groups))
}

public func conv2d<S>(_ x: Variable<S>, _ w: Variable<S>, _ geo: ConvGeometry) -> Variable<S> {
    Variable.record(
        Convolution.forward(x.value, w.value, geo), "conv2d", [x, w],
        replayCost: 2 * geo.inChannels / geo.groups * geo.kernelH * geo.kernelW
    ) { g, _, needs in
        [needs[0] ? conv2dBackwardInput(g, w, geo) : nil, needs[1] ? conv2dBackwardWeight(x, g, geo) : nil]
    }
}

/// `maxPool2d(conv2d(x, w, geo), kernel: 3, stride: poolStride, padding: poolPadding)`, in one pass
/// where the engine has a fused kernel (`Convolution.forwardMaxPooled`: the learner's first
/// layer), else as the two ops. The convolution's output is never made: pooling's adjoint needs
/// only the window maxima's positions, and the convolution's adjoints need x and w. So the
/// pullback is the two ops' pullbacks chained, and differentiates again like them.
public func conv2dMaxPooled<S>(
    _ x: Variable<S>, _ w: Variable<S>, _ geo: ConvGeometry, poolStride: Int, poolPadding: Int
) -> Variable<S> {
    guard Convolution.fusesMaxPool(S.self, geo, poolStride: poolStride, poolPadding: poolPadding) else {
        return maxPool2d(conv2d(x, w, geo), kernel: 3, stride: poolStride, padding: poolPadding)
    }
    let (map, pooled) = OpProfiler.measure("conv2dMaxPool \(geo.outputShape)") {
        Convolution.forwardMaxPooled(x.value, w.value, geo, poolStride: poolStride, poolPadding: poolPadding)
    }
    // Both adjoints scatter the pooled gradient in scratch, so the scattered gradient (which a
    // recorded pass would keep) is never made; the input adjoint falls back to the two ops where
    // the engine has no such kernel.
    return Variable.record(pooled, "conv2dMaxPool", [x, w]) { g, _, needs in
        [
            needs[0] ? conv2dBackwardInputScattered(g, w, map, geo) : nil,
            needs[1] ? conv2dBackwardWeightScattered(x, g, map, geo) : nil,
        ]
    }
}

/// `conv2dBackwardWeight(x, d.scatteredAdd(map), geo)` in one pass (`Convolution.backwardWeightScattered`).
/// Its pullback is that of the two ops: the weight adjoint's, with the scatter's adjoint (a gather)
/// on the gradient's side.
public func conv2dBackwardWeightScattered<S>(
    _ x: Variable<S>, _ d: Variable<S>, _ map: GatherMap, _ geo: ConvGeometry
) -> Variable<S> {
    Variable.record(
        Convolution.backwardWeightScattered(x.value, d.value, map, geo), "conv2dBackwardWeightScattered", [x, d],
        replayCost: 2 * geo.batch * geo.outHeight * geo.outWidth
    ) { g, _, needs in
        [
            needs[0] ? conv2dBackwardInputScattered(d, g, map, geo) : nil,
            needs[1] ? conv2d(x, g, geo).gathered(map) : nil,
        ]
    }
}

/// `conv2dBackwardInput(d.scatteredAdd(map), w, geo)`, in one pass where the engine has a kernel
/// (`Convolution.backwardInputScattered`), else as the two ops. Its pullback is that of the two
/// ops: the input adjoint's, with the scatter's adjoint (a gather) on the gradient's side.
public func conv2dBackwardInputScattered<S>(
    _ d: Variable<S>, _ w: Variable<S>, _ map: GatherMap, _ geo: ConvGeometry
) -> Variable<S> {
    guard Convolution.scattersIntoInputAdjoint(geo, map) else {
        return conv2dBackwardInput(d.scatteredAdd(map), w, geo)
    }
    return Variable.record(
        Convolution.backwardInputScattered(d.value, w.value, map, geo), "conv2dBackwardInputScattered", [d, w],
        replayCost: 2 * geo.outChannels * geo.kernelH * geo.kernelW
    ) { g, _, needs in
        [
            needs[0] ? conv2d(g, w, geo).gathered(map) : nil,
            needs[1] ? conv2dBackwardWeightScattered(g, d, map, geo) : nil,
        ]
    }
}

/// `conv2d(upsampleNearestReflectionPad2d(x, factor: 2, padding: 1), w)` for a 3x3 kernel with few
/// output channels (`UpsampledConvolution.handles`; the generator's last layer), computed from x
/// without the upsampled, padded tensor; else, or when a convolution algorithm is named
/// (`ConvAlgorithm.current` not `.automatic`, as the plain-path comparisons do), as the two ops.
/// Bilinear like conv2d, with the same triple of pullbacks (see above), so it differentiates to
/// any order.
public func upsampledConv2d<S>(_ x: Variable<S>, _ w: Variable<S>) -> Variable<S> {
    guard ConvAlgorithm.current == .automatic, UpsampledConvolution.handles(input: x.shape, weight: w.shape) else {
        return conv2d(upsampleNearestReflectionPad2d(x, factor: 2, padding: 1), w)
    }
    return Variable.record(
        UpsampledConvolution.forward(x.value, w.value), "upsampledConv2d", [x, w], replayCost: 2 * x.shape[1] * 4
    ) { g, _, needs in
        [needs[0] ? upsampledConv2dBackwardInput(g, w) : nil, needs[1] ? upsampledConv2dBackwardWeight(x, g) : nil]
    }
}

public func upsampledConv2dBackwardInput<S>(_ d: Variable<S>, _ w: Variable<S>) -> Variable<S> {
    Variable.record(
        UpsampledConvolution.backwardInput(d.value, w.value), "upsampledConv2dBackwardInput", [d, w],
        replayCost: 2 * w.shape[0] * 4
    ) { g, _, needs in
        [needs[0] ? upsampledConv2d(g, w) : nil, needs[1] ? upsampledConv2dBackwardWeight(g, d) : nil]
    }
}

public func upsampledConv2dBackwardWeight<S>(_ x: Variable<S>, _ d: Variable<S>) -> Variable<S> {
    Variable.record(
        UpsampledConvolution.backwardWeight(x.value, d.value), "upsampledConv2dBackwardWeight", [x, d],
        replayCost: 2 * x.shape[0] * x.shape[2] * x.shape[3]
    ) { g, _, needs in
        [needs[0] ? upsampledConv2dBackwardInput(d, g) : nil, needs[1] ? upsampledConv2d(x, g) : nil]
    }
}

public func conv2dBackwardInput<S>(_ d: Variable<S>, _ w: Variable<S>, _ geo: ConvGeometry) -> Variable<S> {
    Variable.record(
        Convolution.backwardInput(d.value, w.value, geo), "conv2dBackwardInput", [d, w],
        replayCost: 2 * geo.outChannels / geo.groups * geo.kernelH * geo.kernelW / (geo.stride * geo.stride)
    ) { g, _, needs in
        [needs[0] ? conv2d(g, w, geo) : nil, needs[1] ? conv2dBackwardWeight(g, d, geo) : nil]
    }
}

public func conv2dBackwardWeight<S>(_ x: Variable<S>, _ d: Variable<S>, _ geo: ConvGeometry) -> Variable<S> {
    Variable.record(
        Convolution.backwardWeight(x.value, d.value, geo), "conv2dBackwardWeight", [x, d],
        replayCost: 2 * geo.batch * geo.outHeight * geo.outWidth
    ) { g, _, needs in
        [needs[0] ? conv2dBackwardInput(d, g, geo) : nil, needs[1] ? conv2d(x, g, geo) : nil]
    }
}
