import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// Inner-loop optimisers (official `inner_optimizers.py`: SGD, Adam, RMSProp), each with a
/// learned per-step learning rate and "momentum".
public enum InnerOptimizer: String, Sendable, Codable, CaseIterable {
    /// v = m v + g; w -= lr v.
    case sgd
    /// m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) g²; w -= lr m / sqrt(s + eps), b1 learned, b2 = 0.999.
    case adam
    /// s = a s + (1 - a) g²; w -= lr g / sqrt(s + eps), a learned.
    case rmsprop

    var usesSecondMoment: Bool { self != .sgd }

    /// One update at inner step `t` (0-based), in differentiable operations: the meta-trainer
    /// records it, evaluation runs it without a graph. `second` is empty for SGD.
    func step(
        _ t: Int, weights: [Variable<Float>], velocity: [Variable<Float>], second: [Variable<Float>],
        gradients g: [Variable<Float>], learningRate lr: Variable<Float>, momentum: Variable<Float>
    )
        -> (weights: [Variable<Float>], velocity: [Variable<Float>], second: [Variable<Float>])
    {
        switch self {
        case .sgd:
            // Fused: each line is one pass over the weights (and so is each of its pullbacks).
            let v = zip(velocity, g).map { $0.multiplyAdd(momentum, $1) }
            let minusLR = -lr
            return (zip(weights, v).map { $1.multiplyAdd(minusLR, $0) }, v, second)
        case .adam:
            let m = zip(velocity, g).map { $0 * momentum + $1 * (1 - momentum) }
            let sq = zip(second, g).map { $0 * 0.999 + $1 * $1 * 0.001 }
            // Bias-correct the fixed-rate second moment; eps inside the root keeps its derivative
            // finite where a gradient is exactly zero.
            let correction = Float(1 - Foundation.pow(0.999, Double(t + 1)))
            return (
                (0..<weights.count).map { i in weights[i] - m[i] * lr / (sq[i] * (1 / correction) + 1e-8).sqrt() }, m,
                sq
            )
        case .rmsprop:
            let sq = zip(second, g).map { $0 * momentum + $1 * $1 * (1 - momentum) }
            return ((0..<weights.count).map { i in weights[i] - g[i] * lr / (sq[i] + 1e-8).sqrt() }, velocity, sq)
        }
    }
}
