import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// Metrics of one meta-iteration.
public struct MetaStepMetrics: Sendable, Codable {
    public var iteration: Int
    public var metaLoss: Double
    public var metaAccuracy: Double
    public var meanInnerLearningRate: Double
    public var meanInnerMomentum: Double
    public var metaLearningRate: Double
    public var gradientNorm: Double
    public var seconds: Double
    /// With a discriminator (`--teacher gan`, `--gan-weight`): its loss and accuracy on this
    /// iteration's real and generated batches, and the generator's adversarial loss.
    public var discriminatorLoss: Double? = nil
    public var discriminatorAccuracy: Double? = nil
    public var adversarialLoss: Double? = nil
}

/// The meta-learned state: the parameters that make the training data (the generator's weights
/// for a GTN, the pixels for dataset distillation, none for the real-data control), curriculum
/// noise, per-step inner hyperparameters, and the outer optimiser. Plain tensors: each
/// meta-iteration wraps them in fresh variables.
public struct TeacherState: Sendable {
    public var generator: [Tensor<Float>]
    public var curriculum: Tensor<Float>?
    /// The curriculum rows' learned labels, [T*B, classes] (`GTNConfig.learnLabels`), or nil.
    public var labels: Tensor<Float>?
    public var logLearningRates: Tensor<Float>
    public var logMomenta: Tensor<Float>
    public var optimizer: Adam<Float>
    public var iteration = 0
    /// The discriminator's weights and optimiser (empty without a GAN part; never meta-learned:
    /// it trains by its own Adam steps, alternating with the teacher's).
    public var discriminator: [Tensor<Float>] = []
    public var discriminatorOptimizer = Adam<Float>(learningRate: 2e-4, beta1: 0.5)

    public var parameters: [Tensor<Float>] {
        generator + (curriculum.map { [$0] } ?? []) + (labels.map { [$0] } ?? []) + [logLearningRates, logMomenta]
    }

    /// Replaces the meta-learned tensors (in `parameters` order); for tests and tools that probe
    /// the meta-loss around the current state.
    public mutating func setParametersForTesting(_ p: [Tensor<Float>]) { setParameters(p) }

    mutating func setParameters(_ p: [Tensor<Float>]) {
        var i = generator.count
        generator = Array(p[0..<i])
        if curriculum != nil {
            curriculum = p[i]
            i += 1
        }
        if labels != nil {
            labels = p[i]
            i += 1
        }
        logLearningRates = p[i]
        logMomenta = p[i + 1]
    }
}
