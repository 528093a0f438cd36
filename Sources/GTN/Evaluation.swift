import Foundation
import GTNAutodiff
import GTNData
import GTNNN
import GTNTensor

/// A trained learner, ready to classify: weights plus its batch norms' stored means.
public struct TrainedLearner {
    public var config: LearnerConfig
    public var weights: [Tensor<Float>]
    public var means: [Tensor<Float>]

    /// Log-probabilities of `images`, in chunks (no graph is built).
    public func logProbabilities(_ images: Tensor<Float>, chunk: Int = 1000) -> Tensor<Float> {
        withoutGradients {
            let n = images.shape[0], per = images.count / max(n, 1)
            var out: [Float] = []
            out.reserveCapacity(n * config.classes)
            var start = 0
            while start < n {
                let end = min(n, start + chunk)
                var shape = images.shape
                shape[0] = end - start
                let x = Tensor(shape: shape, scalars: Array(images.scalars[start * per ..< end * per]))
                var m = Layers.BatchMeans(values: means.map { Variable($0) })
                let params = ParameterList(specs: config.specs, values: weights.map { Variable($0) })
                out += config.logProbabilities(params, Variable(x), means: &m).value.scalars
                start = end
            }
            return Tensor(shape: [n, config.classes], scalars: out)
        }
    }

    /// Fraction of `images` classified as `labels`.
    public func accuracy(images: Tensor<Float>, labels: [Int]) -> Double {
        precondition(images.shape.first == labels.count, "accuracy: \(images.shape) images, \(labels.count) labels")
        let predicted = logProbabilities(images).argmaxRows()
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    public func accuracy(on data: Dataset) -> Double { accuracy(images: data.images, labels: data.labels) }
}

/// Trains a fresh learner for `steps` SGD-with-momentum steps on the batches `batch(t)` gives
/// (images, one-hot or soft targets), without building meta-gradient graphs. Calls `afterStep`
/// with the learner after every step (for accuracy-per-step curves).
public func trainLearner(_ config: LearnerConfig, initialWeights: [Tensor<Float>], steps: Int,
                         optimizer: InnerOptimizer = .sgd, learningRates: [Float], momenta: [Float],
                         batch: (Int) -> (images: Tensor<Float>, targets: Tensor<Float>),
                         afterStep: ((Int, TrainedLearner) -> Void)? = nil) -> TrainedLearner {
    precondition(learningRates.count >= steps && momenta.count >= steps,
                 "trainLearner: \(steps) steps but \(learningRates.count) learning rates, \(momenta.count) momenta")
    var w = initialWeights
    var v = w.map { Tensor<Float>.zeros($0.shape) }
    var second = optimizer.usesSecondMoment ? v : []
    var means: [Tensor<Float>] = []
    for t in 0..<steps {
        let (x, y) = batch(t)
        let vars = w.map { Variable($0, requiresGrad: true) }
        var m = Layers.BatchMeans<Float>.collect
        let loss = crossEntropy(logProbs: config.logProbabilities(ParameterList(specs: config.specs, values: vars), Variable(x), means: &m),
                                targets: Variable(y))
        let g = gradients(of: loss, wrt: vars).map(\.value)
        means = m.values.map(\.value)
        // The meta-trainer's own update rule, run without a graph.
        (w, v, second) = withoutGradients {
            let constant = { (ts: [Tensor<Float>]) in ts.map { Variable($0) } }
            let r = optimizer.step(t, weights: constant(w), velocity: constant(v), second: constant(second), gradients: constant(g),
                                   learningRate: Variable(Tensor(shape: [1], scalars: [learningRates[t]])),
                                   momentum: Variable(Tensor(shape: [1], scalars: [momenta[t]])))
            return (r.weights.map(\.value), r.velocity.map(\.value), r.second.map(\.value))
        }
        afterStep?(t, TrainedLearner(config: config, weights: w, means: means))
    }
    return TrainedLearner(config: config, weights: w, means: means)
}

extension MetaTrainer {
    /// The learned per-step inner learning rates and momenta.
    public var innerLearningRates: [Float] { state.logLearningRates.scalars.map { Foundation.exp($0) } }
    public var innerMomenta: [Float] { state.logMomenta.scalars.map { Foundation.exp($0) } }

    /// The synthetic batch of inner step `t` for a learner episode drawn from `seed` (images and
    /// one-hot labels), computed without a graph.
    public func generatedBatch(step t: Int, seed: UInt64) -> (images: Tensor<Float>, targets: Tensor<Float>) {
        batchMaker(episode(seed: seed))(t)
    }

    /// Makes the synthetic batches of one episode; the generator's weights are prepared (weight
    /// norm folded) once for all of them.
    func batchMaker(_ ep: Episode) -> (Int) -> (images: Tensor<Float>, targets: Tensor<Float>) {
        let teacher = withoutGradients { teacherVariables(state.parameters.map { Variable($0) }) }
        return { t in
            withoutGradients {
                let z = noise(step: t, curriculum: teacher.curriculum, episode: ep)
                return (config.generator.generate(prepared: teacher.generator, noise: z, labels: Variable(ep.labels)).value, ep.labels)
            }
        }
    }

    /// The synthetic batches of all T inner steps for the episode drawn from `seed`.
    public func generatedBatches(seed: UInt64) -> [(images: Tensor<Float>, targets: Tensor<Float>)] {
        let make = batchMaker(episode(seed: seed))
        return (0..<config.innerSteps).map(make)
    }

    /// Trains a fresh learner (drawn from `seed`) for T steps on this teacher's data, calling
    /// `afterStep` after every step.
    public func teach(seed: UInt64, afterStep: ((Int, TrainedLearner) -> Void)? = nil) -> TrainedLearner {
        let ep = episode(seed: seed)
        return trainLearner(ep.learner, initialWeights: ep.learnerInit, steps: config.innerSteps,
                            optimizer: config.innerOptimizer, learningRates: innerLearningRates, momenta: innerMomenta,
                            batch: batchMaker(ep), afterStep: afterStep)
    }

    /// The control: the same fresh learner trained T steps on real batches with the configured
    /// (not meta-learned) inner learning rate and momentum.
    public func trainOnRealData(seed: UInt64, data: RealBatchSource,
                                afterStep: ((Int, TrainedLearner) -> Void)? = nil) -> TrainedLearner {
        let ep = episode(seed: seed)
        var rng = RandomSource(seed: seed ^ 0x5EA1)
        let t = config.innerSteps
        return trainLearner(ep.learner, initialWeights: ep.learnerInit, steps: t,
                            learningRates: Array(repeating: Float(config.innerLearningRate), count: t),
                            momenta: Array(repeating: Float(config.innerMomentum), count: t),
                            batch: { _ in
                                let b = data(config.batchSize, &rng)
                                return (b.images, oneHot(b.labels, classes: config.learner.classes))
                            }, afterStep: afterStep)
    }
}
