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
        TeacherRoles(
            generator: generator, curriculum: curriculum, labels: labels, logLearningRates: logLearningRates,
            logMomenta: logMomenta
        ).flat
    }

    /// Replaces the meta-learned tensors (in `parameters` order); for tests and tools that probe
    /// the meta-loss around the current state.
    public mutating func setParametersForTesting(_ p: [Tensor<Float>]) { setParameters(p) }

    mutating func setParameters(_ p: [Tensor<Float>]) {
        let r = TeacherRoles(
            flat: p, generatorCount: generator.count, curriculum: curriculum != nil, labels: labels != nil)
        (generator, curriculum, labels, logLearningRates, logMomenta) = (
            r.generator, r.curriculum, r.labels, r.logLearningRates, r.logMomenta
        )
    }
}

/// The one order of a teacher's meta-learned values in a flat list (`TeacherState.parameters`, its
/// gradients, the variables of a meta-iteration): the generator's, then the curriculum noise and
/// its labels when the teacher has them, then the log learning rates and log momenta.
struct TeacherRoles<Value> {
    var generator: [Value]
    var curriculum: Value?
    var labels: Value?
    var logLearningRates: Value
    var logMomenta: Value

    var flat: [Value] {
        generator + (curriculum.map { [$0] } ?? []) + (labels.map { [$0] } ?? []) + [logLearningRates, logMomenta]
    }
}

// In an extension, so the struct keeps its memberwise initialiser.
extension TeacherRoles {
    /// Splits `flat`, which holds `generatorCount` generator values and the optional roles present.
    init(flat: [Value], generatorCount g: Int, curriculum hasCurriculum: Bool, labels hasLabels: Bool) {
        var k = g
        func next() -> Value {
            defer { k += 1 }
            return flat[k]
        }
        generator = Array(flat[0..<g])
        curriculum = hasCurriculum ? next() : nil
        labels = hasLabels ? next() : nil
        logLearningRates = next()
        logMomenta = next()
    }
}
