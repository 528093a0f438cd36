import GTNTensor

// Operations built from primitives only: they need no derivative rules of their own.

extension Variable {
    /// Sums over `axes`, keeping them with size 1.
    public func sum(alongAxes axes: [Int]) -> Variable {
        sum(toShape: keptShape(shape, reducing: axes, "sum(alongAxes:)"))
    }

    /// Sums of squares over `axes`, keeping them with size 1.
    public func sumOfSquares(alongAxes axes: [Int]) -> Variable {
        sumOfSquares(toShape: keptShape(shape, reducing: axes, "sumOfSquares(alongAxes:)"))
    }

    public func sum() -> Variable { sum(toShape: []) }

    public func mean(alongAxes axes: [Int]) -> Variable {
        let n = axes.reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: axes) * (1 / S(n))
    }

    public func mean() -> Variable { sum() * (1 / S(max(value.count, 1))) }

    /// Log-softmax over the last axis. The row maximum is subtracted as a constant: it changes
    /// nothing mathematically and keeps exp from overflowing.
    public func logSoftmax() -> Variable {
        let axis = shape.count - 1
        let shifted = self - Variable(value.max(alongAxis: axis))
        return shifted - shifted.exp().sum(alongAxes: [axis]).log()
    }

    public func sigmoid() -> Variable { 1 / ((-self).exp() + 1) }

    /// 1 / x
    public static func / (s: S, a: Variable) -> Variable { a.pow(-1) * s }

    public func squared() -> Variable { self * self }

    /// Flattens all but the first axis.
    public func flattened() -> Variable { reshaped([shape[0], -1]) }

    public func slice(axis: Int, _ range: Range<Int>) -> Variable {
        gathered(.slice(shape, axis: axis, range: range))
    }
}

/// Concatenation along `axis`: each part is placed into the whole by a gather, then summed.
public func concat<S>(_ parts: [Variable<S>], axis: Int) -> Variable<S> {
    let maps = GatherMap.concatenation(parts.map(\.shape), axis: axis)
    return zip(parts, maps).map { $0.gathered($1) }.reduce(nil) { acc, p in acc.map { $0 + p } ?? p }!
}

// MARK: Layers' building blocks

/// Max pooling (square kernel): a gather of each window's largest input.
public func maxPool2d<S>(_ x: Variable<S>, kernel: Int, stride: Int, padding: Int = 0) -> Variable<S> {
    let (map, pooled) = OpProfiler.measure("maxPool \(x.shape)") {
        GatherMap.maxPooled(x.value, kernel: kernel, stride: stride, padding: padding)
    }
    return x.gathered(map, value: pooled)
}

/// Average pooling (square kernel, padding counted as zeros as in PyTorch's default): a
/// depthwise convolution with a constant 1/k² kernel.
public func avgPool2d<S>(_ x: Variable<S>, kernel: Int, stride: Int, padding: Int = 0) -> Variable<S> {
    let c = x.shape[1]
    let w = Variable(Tensor<S>(repeating: 1 / S(kernel * kernel), shape: [c, 1, kernel, kernel]))
    return conv2d(x, w, stride: stride, padding: padding, groups: c)
}

/// Mean over the spatial axes of NCHW, giving N x C.
public func globalAvgPool2d<S>(_ x: Variable<S>) -> Variable<S> {
    x.mean(alongAxes: [2, 3]).reshaped([x.shape[0], x.shape[1]])
}

public func upsampleNearest2d<S>(_ x: Variable<S>, factor: Int) -> Variable<S> {
    x.gathered(.upsampleNearest(x.shape, factor: factor))
}

/// `reflectionPad2d(upsampleNearest2d(x, factor:), padding:)` as one gather.
public func upsampleNearestReflectionPad2d<S>(_ x: Variable<S>, factor: Int, padding: Int) -> Variable<S> {
    x.gathered(.upsampleNearestReflectionPad(x.shape, factor: factor, pad: padding))
}

public func reflectionPad2d<S>(_ x: Variable<S>, padding: Int) -> Variable<S> {
    x.gathered(.reflectionPad(x.shape, pad: padding))
}

public func zeroPad2d<S>(_ x: Variable<S>, padding: Int) -> Variable<S> {
    x.gathered(.zeroPad(x.shape, pad: padding))
}

// MARK: Losses

/// Cross-entropy of log-probabilities against one-hot or soft targets (rows sum to 1):
/// -sum(logProbs * targets) / batch, as the official GTN code computes it.
public func crossEntropy<S>(logProbs: Variable<S>, targets: Variable<S>) -> Variable<S> {
    precondition(
        logProbs.shape == targets.shape,
        "crossEntropy: log-probabilities \(logProbs.shape) and targets \(targets.shape) differ in shape")
    return -(logProbs * targets).sum() * (1 / S(logProbs.shape[0]))
}

/// Negative log-likelihood of integer class labels.
public func nllLoss<S>(logProbs: Variable<S>, labels: [Int]) -> Variable<S> {
    crossEntropy(logProbs: logProbs, targets: Variable(oneHot(labels, classes: logProbs.shape[1])))
}

public func oneHot<S: TensorScalar>(_ labels: [Int], classes: Int) -> Tensor<S> {
    var t = Tensor<S>.zeros([labels.count, classes])
    for (i, l) in labels.enumerated() {
        precondition(l >= 0 && l < classes, "oneHot: label \(l) outside 0..<\(classes)")
        t.scalars[i * classes + l] = 1
    }
    return t
}
