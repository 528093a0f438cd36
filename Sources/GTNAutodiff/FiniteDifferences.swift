import GTNTensor

/// Derivative checks against central finite differences, used by the test suite (and available to
/// anyone adding a primitive).
public enum DerivativeCheck {
    public struct Report: CustomStringConvertible {
        /// Largest |analytic - numeric| / max(1, |numeric|) over all checked coordinates.
        public var maxError: Double
        public var worst: String
        public var description: String { "max error \(maxError) at \(worst)" }
    }

    /// Compares the gradient of the scalar `f(inputs)` with central differences of step `h` in
    /// every coordinate of every input.
    public static func gradient(
        of f: ([Variable<Double>]) -> Variable<Double>,
        at inputs: [Tensor<Double>], step h: Double = 1e-6
    ) -> Report {
        let vars = inputs.map { Variable($0, requiresGrad: true) }
        let out = f(vars)
        precondition(out.value.count == 1, "DerivativeCheck: f must return one number, got shape \(out.shape)")
        let analytic = gradients(of: out, wrt: vars).map(\.value)
        var report = Report(maxError: 0, worst: "-")
        for k in inputs.indices {
            for i in 0..<inputs[k].count {
                func value(_ delta: Double) -> Double {
                    var shifted = inputs
                    shifted[k].scalars[i] += delta
                    // Leaves that require gradients, so an `f` that differentiates inside works as usual.
                    return f(shifted.map { Variable($0, requiresGrad: true) }).scalar
                }
                let numeric = (value(h) - value(-h)) / (2 * h)
                let err = abs(analytic[k].scalars[i] - numeric) / max(1, abs(numeric))
                if err > report.maxError {
                    report = Report(
                        maxError: err, worst: "input \(k)[\(i)]: analytic \(analytic[k].scalars[i]), numeric \(numeric)"
                    )
                }
            }
        }
        return report
    }

    /// First- and second-order checks of `f` (any output shape): the first-order check compares
    /// the gradient of <u, f(x)> for a random u; the second-order check differentiates
    /// <v, ∇x <u, f(x)>> (built with `createGraph`) with respect to x and u.
    public static func firstAndSecondOrder(
        of f: @escaping ([Variable<Double>]) -> Variable<Double>,
        at inputs: [Tensor<Double>], seed: UInt64 = 7,
        step h: Double = 1e-6
    ) -> (first: Report, second: Report) {
        var rng = RandomSource(seed: seed)
        let outShape = withoutGradients { f(inputs.map { Variable($0) }).shape }
        let u = Tensor<Double>.randomNormal(outShape, using: &rng)
        let vs = inputs.map { Tensor<Double>.randomNormal($0.shape, using: &rng) }
        let first = gradient(of: { xs in (f(xs) * Variable(u)).sum() }, at: inputs, step: h)
        // Second order: the inputs are x_1..x_n and u; the function is <v, grad_x <u, f(x)>>.
        let n = inputs.count
        let second = gradient(
            of: { xsu in
                let xs = Array(xsu.prefix(n))
                let uu = xsu[n]
                let grads = gradients(of: (f(xs) * uu).sum(), wrt: xs, createGraph: true)
                return zip(grads, vs).map { ($0 * Variable($1)).sum() }.reduce(Variable(Tensor(0.0)), +)
            }, at: inputs + [u], step: h)
        return (first, second)
    }
}
