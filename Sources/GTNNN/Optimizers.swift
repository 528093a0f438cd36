import Foundation
import GTNAutodiff
import GTNTensor

/// Adam (Kingma & Ba) for the outer, meta-level parameters. Works on plain tensors: the outer
/// update is never differentiated.
public struct Adam<S: TensorScalar>: Sendable {
    public var learningRate: Double
    public var beta1: Double, beta2: Double, epsilon: Double
    public private(set) var step = 0
    public private(set) var firstMoments: [Tensor<S>] = []
    public private(set) var secondMoments: [Tensor<S>] = []

    public init(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        (self.learningRate, self.beta1, self.beta2, self.epsilon) = (learningRate, beta1, beta2, epsilon)
    }

    /// Restores a saved state (checkpoint resume).
    public init(
        learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
        step: Int, firstMoments: [Tensor<S>], secondMoments: [Tensor<S>]
    ) {
        self.init(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
        (self.step, self.firstMoments, self.secondMoments) = (step, firstMoments, secondMoments)
    }

    /// One update of `params` by `grads` at learning rate `lr` (the schedule's current value).
    // Specialised: generic code here runs every element through protocol witnesses, which
    // cost ~0.4 s per meta-iteration on the generator's 6.7M parameters.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public mutating func update(_ params: inout [Tensor<S>], grads: [Tensor<S>], lr: Double) {
        precondition(params.count == grads.count, "Adam: \(params.count) parameters, \(grads.count) gradients")
        if firstMoments.isEmpty {
            firstMoments = params.map { .zeros($0.shape) }
            secondMoments = params.map { .zeros($0.shape) }
        }
        step += 1
        let c1 = 1 - Foundation.pow(beta1, Double(step))
        let c2 = 1 - Foundation.pow(beta2, Double(step))
        let (b1, b2) = (S(beta1), S(beta2))
        let stepSize = S(lr / c1)
        let eps = S(epsilon)
        let rc2 = S(1 / c2)
        for i in params.indices {
            precondition(
                grads[i].count == params[i].count,
                "Adam: gradient \(i) has \(grads[i].count) elements, parameter \(params[i].count)")
            // In place through pointers: copying the arrays out and back (`var m = ...scalars`)
            // made every write a copy-on-write of the whole array, three copies of the
            // generator's 6.7M parameters per meta-iteration, and kept the loop from vectorising.
            let n = params[i].count
            grads[i].scalars.withUnsafeBufferPointer { g in
                params[i].scalars.withUnsafeMutableBufferPointer { p in
                    firstMoments[i].scalars.withUnsafeMutableBufferPointer { m in
                        secondMoments[i].scalars.withUnsafeMutableBufferPointer { v in
                            let (g, p, m, v) = (g.baseAddress!, p.baseAddress!, m.baseAddress!, v.baseAddress!)
                            for k in 0..<n {
                                m[k] = b1 * m[k] + (1 - b1) * g[k]
                                v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
                                p[k] -= stepSize * m[k] / ((v[k] * rc2).squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Cosine annealing from `base` down to `base * finalFraction` over `total` steps.
public func cosineAnnealed(base: Double, step: Int, total: Int, finalFraction: Double = 0.1) -> Double {
    let t = min(1, Double(step) / Double(max(total, 1)))
    let floor = base * finalFraction
    return floor + (base - floor) * 0.5 * (1 + Foundation.cos(.pi * t))
}

/// Scales gradients so their joint L2 norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
@_specialize(where S == Float) @_specialize(where S == Double)
public func clipGradients<S>(_ grads: inout [Tensor<S>], maxNorm: Double) -> Double {
    var total = 0.0
    for g in grads { for x in g.scalars { total += Double(x) * Double(x) } }
    let norm = total.squareRoot()
    if norm > maxNorm {
        let s = S(maxNorm / norm)
        grads = grads.map { $0 * s }
    }
    return norm
}
