import Foundation
import GTNTensor

/// A Gaussian-process regression model with a Matérn 5/2 kernel (one length scale per input
/// dimension), for inputs in the unit cube and standardised outputs. Its hyperparameters (signal
/// variance, length scales, noise variance) maximise the log marginal likelihood; the linear
/// algebra is LAPACK's Cholesky factorisation (OpenBLAS).
public struct GaussianProcess: Sendable {
    public struct Hyperparameters: Sendable, Equatable {
        public var signalVariance: Double
        public var lengthScales: [Double]
        public var noiseVariance: Double
        public init(signalVariance: Double, lengthScales: [Double], noiseVariance: Double) {
            (self.signalVariance, self.lengthScales, self.noiseVariance) = (signalVariance, lengthScales, noiseVariance)
        }
    }

    public let inputs: [[Double]]
    /// The outputs as given, and their standardisation.
    public let outputs: [Double]
    let mean: Double, scale: Double
    public let hyperparameters: Hyperparameters
    /// Cholesky factor of K + σ²I and α = (K + σ²I)⁻¹ y (standardised), row-major.
    let factor: [Double]
    let alpha: [Double]
    public let logMarginalLikelihood: Double

    /// Matérn 5/2: s² (1 + √5 r + 5 r² / 3) exp(-√5 r), r the length-scaled distance.
    public static func kernel(_ a: [Double], _ b: [Double], _ h: Hyperparameters) -> Double {
        var r2 = 0.0
        for i in a.indices {
            let d = (a[i] - b[i]) / h.lengthScales[i]
            r2 += d * d
        }
        let r = (5 * r2).squareRoot()
        return h.signalVariance * (1 + r + r * r / 3) * Foundation.exp(-r)
    }

    /// The model with the given hyperparameters (nil if K + σ²I is not positive definite).
    public init?(inputs: [[Double]], outputs: [Double], hyperparameters h: Hyperparameters) {
        precondition(
            !inputs.isEmpty && inputs.count == outputs.count,
            "GaussianProcess: \(inputs.count) inputs, \(outputs.count) outputs")
        let n = inputs.count
        let m = outputs.reduce(0, +) / Double(n)
        let sd = (outputs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n)).squareRoot()
        let scale = sd > 1e-12 ? sd : 1
        let y = outputs.map { ($0 - m) / scale }
        var k = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                let v = Self.kernel(inputs[i], inputs[j], h) + (i == j ? h.noiseVariance : 0)
                (k[i * n + j], k[j * n + i]) = (v, v)
            }
        }
        guard let l = try? LinearAlgebra.cholesky(k, n: n), let a = try? LinearAlgebra.choleskySolve(l, n: n, y) else {
            return nil
        }
        let logDet = (0..<n).reduce(0.0) { $0 + 2 * Foundation.log(l[$1 * n + $1]) }
        let fit = zip(y, a).reduce(0.0) { $0 + $1.0 * $1.1 }
        (self.inputs, self.outputs, mean, self.scale, hyperparameters) = (inputs, outputs, m, scale, h)
        (factor, alpha) = (l, a)
        logMarginalLikelihood = -0.5 * fit - 0.5 * logDet - 0.5 * Double(n) * Foundation.log(2 * Double.pi)
    }

    /// Fits the hyperparameters by maximising the log marginal likelihood: random draws over
    /// log-uniform ranges, then a coordinate-wise pattern search from the best one. Deterministic
    /// for a seed.
    public static func fit(inputs: [[Double]], outputs: [Double], seed: UInt64 = 0, draws: Int = 150) -> GaussianProcess
    {
        let d = inputs[0].count
        var rng = RandomSource(seed: seed)
        func logUniform(_ lo: Double, _ hi: Double) -> Double {
            Foundation.exp(Foundation.log(lo) + (Foundation.log(hi) - Foundation.log(lo)) * rng.uniform(Double.self))
        }
        // θ = log(s², ℓ_1...ℓ_d, σ²), each within bounds.
        let lower = [Foundation.log(0.05)] + Array(repeating: Foundation.log(0.02), count: d) + [Foundation.log(1e-6)]
        let upper = [Foundation.log(20.0)] + Array(repeating: Foundation.log(5.0), count: d) + [Foundation.log(0.5)]
        func model(_ theta: [Double]) -> GaussianProcess? {
            let h = Hyperparameters(
                signalVariance: Foundation.exp(theta[0]), lengthScales: theta[1...d].map { Foundation.exp($0) },
                noiseVariance: Foundation.exp(theta[d + 1]))
            return GaussianProcess(inputs: inputs, outputs: outputs, hyperparameters: h)
        }
        var best: (theta: [Double], gp: GaussianProcess)?
        let start = [0.0] + Array(repeating: Foundation.log(0.3), count: d) + [Foundation.log(1e-3)]
        for k in 0...draws {
            let theta =
                k == 0
                ? start
                : [Foundation.log(logUniform(0.05, 20))] + (0..<d).map { _ in Foundation.log(logUniform(0.02, 5)) }
                    + [Foundation.log(logUniform(1e-6, 0.5))]
            if let gp = model(theta), gp.logMarginalLikelihood > (best?.gp.logMarginalLikelihood ?? -.infinity) {
                best = (theta, gp)
            }
        }
        guard var (theta, gp) = best else {
            // Nothing factorised (duplicate points with no noise cannot happen with σ² >= 1e-6).
            preconditionFailure("GaussianProcess.fit: no hyperparameters gave a positive-definite kernel")
        }
        var step = 0.5
        while step > 0.01 {
            var improved = false
            for i in theta.indices {
                for sign in [1.0, -1.0] {
                    var t = theta
                    t[i] = min(max(t[i] + sign * step, lower[i]), upper[i])
                    if let g = model(t), g.logMarginalLikelihood > gp.logMarginalLikelihood {
                        (theta, gp, improved) = (t, g, true)
                    }
                }
            }
            if !improved { step /= 2 }
        }
        return gp
    }

    /// Posterior means and standard deviations at `points`, in the outputs' units.
    public func predict(_ points: [[Double]]) -> (mean: [Double], sd: [Double]) {
        let (n, m) = (inputs.count, points.count)
        if m == 0 { return ([], []) }
        // K* [n, m], row-major; one solve for all columns.
        var kStar = [Double](repeating: 0, count: n * m)
        for i in 0..<n { for j in 0..<m { kStar[i * m + j] = Self.kernel(inputs[i], points[j], hyperparameters) } }
        let v = (try? LinearAlgebra.choleskySolve(factor, n: n, kStar, columns: m)) ?? kStar.map { _ in 0 }
        var means = [Double](repeating: 0, count: m)
        var sds = [Double](repeating: 0, count: m)
        for j in 0..<m {
            var mu = 0.0
            var explained = 0.0
            for i in 0..<n {
                mu += kStar[i * m + j] * alpha[i]
                explained += kStar[i * m + j] * v[i * m + j]
            }
            let variance = max(hyperparameters.signalVariance - explained, 1e-12)
            means[j] = mean + scale * mu
            sds[j] = scale * variance.squareRoot()
        }
        return (means, sds)
    }
}

/// Expected improvement below `best` (minimisation) of a Gaussian N(mean, sd²), with a margin ξ.
public func expectedImprovement(mean: Double, sd: Double, best: Double, xi: Double = 0.01) -> Double {
    guard sd > 1e-12 else { return max(best - mean - xi, 0) }
    let improvement = best - mean - xi
    let z = improvement / sd
    let pdf = Foundation.exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
    let cdf = 0.5 * erfc(-z / 2.0.squareRoot())
    return improvement * cdf + sd * pdf
}
