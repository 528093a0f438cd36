import GTNAutodiff
import GTNTensor

/// Layer building blocks over explicit parameters. Each layer kind has a `specs` function (the
/// parameters it needs, with their initialisers) and an apply function (a pure function of them).
public enum Layers {
    // MARK: Weight normalisation

    /// Weight normalisation (Salimans & Kingma 2016): w * g / ||w|| per output unit, with g
    /// initialised by the caller to ||w|| (so the layer starts as the plain layer). `outputAxis`
    /// is the axis indexing output units (0 for OIHW conv weights, 1 for [in, out] linear weights).
    public static func weightNormalized<S>(_ w: Variable<S>, gain: Variable<S>, outputAxis: Int) -> Variable<S> {
        let axes = (0..<w.shape.count).filter { $0 != outputAxis }
        return w * (gain / w.sumOfSquares(alongAxes: axes).sqrt())
    }

    /// The gain shape of a weight-normalised weight.
    static func gainShape(_ shape: [Int], outputAxis: Int) -> [Int] {
        shape.enumerated().map { $0.offset == outputAxis ? $0.element : 1 }
    }

    // MARK: Linear

    public static func linearSpecs(_ name: String, inputs: Int, outputs: Int, bias: Bool, weightNorm: Bool)
        -> [ParameterSpec]
    {
        var s = [ParameterSpec("\(name).weight", [inputs, outputs], .kaimingNormal(fanIn: inputs))]
        if weightNorm { s.append(ParameterSpec("\(name).gain", [1, outputs], .ones)) }
        if bias { s.append(ParameterSpec("\(name).bias", [1, outputs], .zeros)) }
        return s
    }

    public static func linear<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, bias: Bool, weightNorm: Bool
    ) -> Variable<S> {
        let w = p.take("\(name).weight")
        var y: Variable<S>
        if weightNorm {
            // Scale whichever is smaller, the weight or the output: the same function, but the
            // double backward then runs over [batch, out] instead of [in, out] for wide layers.
            let gain = p.take("\(name).gain")
            if x.shape[0] < w.shape[0] {
                y = matmul(x, w) * (gain / w.sumOfSquares(alongAxes: [0]).sqrt())
            } else {
                y = matmul(x, weightNormalized(w, gain: gain, outputAxis: 1))
            }
        } else {
            y = matmul(x, w)
        }
        return bias ? y + p.take("\(name).bias") : y
    }

    // MARK: Convolution

    public static func convSpecs(
        _ name: String, inputs: Int, outputs: Int, kernel: Int, groups: Int = 1, bias: Bool, weightNorm: Bool
    ) -> [ParameterSpec] {
        let fanIn = inputs / groups * kernel * kernel
        var s = [
            ParameterSpec("\(name).weight", [outputs, inputs / groups, kernel, kernel], .kaimingNormal(fanIn: fanIn))
        ]
        if weightNorm { s.append(ParameterSpec("\(name).gain", [outputs, 1, 1, 1], .ones)) }
        if bias { s.append(ParameterSpec("\(name).bias", [1, outputs, 1, 1], .zeros)) }
        return s
    }

    public static func conv<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, stride: Int = 1,
        padding: Int, groups: Int = 1, bias: Bool, weightNorm: Bool
    ) -> Variable<S> {
        let y = conv2d(
            x, convWeight(&p, name, weightNorm: weightNorm), stride: stride, padding: padding, groups: groups)
        return bias ? y + p.take("\(name).bias") : y
    }

    /// 3x3 convolution of x upsampled by 2 (nearest) and reflection-padded by 1 (the generator's
    /// layers), from x itself where the engine has a kernel for it (`upsampledConv2d`).
    public static func upsampledConv<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, bias: Bool, weightNorm: Bool
    ) -> Variable<S> {
        let y = upsampledConv2d(x, convWeight(&p, name, weightNorm: weightNorm))
        return bias ? y + p.take("\(name).bias") : y
    }

    /// A bias-free stride-1 convolution followed by 3x3 max pooling, in one pass where the engine
    /// has a kernel for it (the learners' first layer; see `conv2dMaxPooled`).
    public static func convMaxPooled<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, padding: Int, weightNorm: Bool,
        poolStride: Int, poolPadding: Int
    ) -> Variable<S> {
        let w = convWeight(&p, name, weightNorm: weightNorm)
        let geo = ConvGeometry(input: x.shape, weight: w.shape, stride: 1, padding: padding, groups: 1)
        return conv2dMaxPooled(x, w, geo, poolStride: poolStride, poolPadding: poolPadding)
    }

    private static func convWeight<S>(_ p: inout ParameterReader<S>, _ name: String, weightNorm: Bool) -> Variable<S> {
        let w = p.take("\(name).weight")
        return weightNorm ? weightNormalized(w, gain: p.take("\(name).gain"), outputAxis: 0) : w
    }

    // MARK: Normalisation

    /// Mean-only batch norm (the learners'): x - batch mean + bias. Statistics over every axis but
    /// the channel axis 1 (works for N x C and N x C x H x W).
    public static func meanOnlyBatchNormSpecs(_ name: String, channels: Int, rank: Int) -> [ParameterSpec] {
        [ParameterSpec("\(name).bias", rank == 4 ? [1, channels, 1, 1] : [1, channels], .zeros)]
    }

    ///
    /// `means` carries the statistics: when it holds no entry for this layer yet, the batch mean is
    /// used and appended (training mode); otherwise the stored mean is used (evaluation mode, where
    /// PyTorch's BN with momentum 0 uses the last training batch's mean as its running mean).
    public static func meanOnlyBatchNorm<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String,
        means: inout BatchMeans<S>
    ) -> Variable<S> {
        let axes = (0..<x.shape.count).filter { $0 != 1 }
        defer { means.next += 1 }
        if means.next < means.values.count {
            let mean = means.values[means.next]
            let expected = keptShape(x.shape, reducing: axes, name)
            precondition(
                mean.shape == expected, "\(name): stored mean has shape \(mean.shape), input needs \(expected)")
            return x - mean + p.take("\(name).bias")
        }
        // Training mode: the mean is kept as a graph node of its own (evaluation and the
        // intermediate losses use it later), while the output is one fused centring pass whose
        // pullback is the centring of the gradient: the same derivative as x - mean(x) + b, with
        // two full-size passes fewer each way.
        let mean = x.mean(alongAxes: axes)
        means.values.append(mean)
        return x.centred(alongAxes: axes, plus: p.take("\(name).bias"), mean: mean.value)
    }

    /// Mean-only batch-norm statistics of one forward pass, in layer order (see `meanOnlyBatchNorm`).
    public struct BatchMeans<S: TensorScalar> {
        public var values: [Variable<S>]
        var next = 0
        /// Training mode: compute and collect batch means.
        public static var collect: BatchMeans { BatchMeans(values: []) }
        /// Evaluation mode: use these stored means.
        public init(values: [Variable<S>]) { self.values = values }
    }

    /// Batch norm with batch statistics, scale and shift (the generator's).
    public static func batchNormSpecs(_ name: String, channels: Int, rank: Int) -> [ParameterSpec] {
        let shape = rank == 4 ? [1, channels, 1, 1] : [1, channels]
        return [ParameterSpec("\(name).scale", shape, .ones), ParameterSpec("\(name).shift", shape, .zeros)]
    }

    public static func batchNorm<S>(_ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, epsilon: S = 1e-5)
        -> Variable<S>
    {
        let axes = (0..<x.shape.count).filter { $0 != 1 }
        let centred = x.centred(alongAxes: axes)
        let n = axes.reduce(1) { $0 * x.shape[$1] }
        let variance = centred.sumOfSquares(alongAxes: axes) * (1 / S(n))
        // The per-channel factors are multiplied first, so that the full-size tensor is multiplied
        // once (and its pullback has one full-size product fewer each way).
        return centred * ((variance + epsilon).pow(-0.5) * p.take("\(name).scale")) + p.take("\(name).shift")
    }
}

extension ParameterList {
    /// The same layers with weight normalisation folded in: every weight with a gain becomes
    /// w * g / ||w|| and the gains are dropped. Applying a model with `weightNorm: false` to these
    /// computes the same function; a model used many times with fixed parameters (the generator
    /// across the inner steps) then normalises once instead of at every use.
    public func foldingWeightNorm() -> ParameterList {
        var specs: [ParameterSpec] = []
        var values: [Variable<S>] = []
        for (spec, v) in zip(self.specs, self.values) where !spec.name.hasSuffix(".gain") {
            let base = String(spec.name.dropLast(".weight".count))
            if spec.name.hasSuffix(".weight"), let gi = self.specs.firstIndex(where: { $0.name == base + ".gain" }) {
                values.append(Layers.weightNormalized(v, gain: self.values[gi], outputAxis: v.shape.count == 4 ? 0 : 1))
            } else {
                values.append(v)
            }
            specs.append(spec)
        }
        return ParameterList(specs: specs, values: values)
    }

    /// Sets every weight-norm gain to the norm of its weight, so a weight-normalised layer starts
    /// out computing exactly what the plain layer would.
    public mutating func initialiseWeightNormGains() {
        for (i, spec) in specs.enumerated() where spec.name.hasSuffix(".gain") {
            let base = String(spec.name.dropLast(".gain".count))
            guard let wi = specs.firstIndex(where: { $0.name == base + ".weight" }) else { continue }
            let w = values[wi].value
            let outputAxis = w.rank == 4 ? 0 : 1
            let axes = (0..<w.rank).filter { $0 != outputAxis }
            let norm = w.sumOfSquares(toShape: keptShape(w.shape, reducing: axes, base)).sqrt()
            values[i] = Variable(norm, requiresGrad: values[i].requiresGrad)
        }
    }
}
