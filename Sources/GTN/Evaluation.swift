import Foundation
import GTNAutodiff
import GTNData
import GTNNN
import GTNTensor

/// A trained learner, ready to classify: weights plus its batch norms' stored means.
public struct TrainedLearner {
    public var config: any LearnerArchitecture
    public var weights: [Tensor<Float>]
    public var means: [Tensor<Float>]

    /// Log-probabilities of `images`, in chunks (no graph is built).
    public func logProbabilities(_ images: Tensor<Float>, chunk: Int = 1000) -> Tensor<Float> {
        var out: [Float] = []
        out.reserveCapacity(images.shape[0] * config.classes)
        inEvaluationChunks(images, chunk: chunk) { params, means, x in
            out += config.logProbabilities(params, x, means: &means).value.scalars
        }
        return Tensor(shape: [images.shape[0], config.classes], scalars: out)
    }

    /// Calls `body` on consecutive chunks of at most `chunk` of `images`, without a graph, with
    /// this learner's weights and its stored batch means (evaluation mode): scoring 10000 images
    /// at once would hold every layer's activations for all of them.
    public func inEvaluationChunks(
        _ images: Tensor<Float>, chunk: Int,
        _ body: (ParameterList<Float>, inout Layers.BatchMeans<Float>, Variable<Float>) -> Void
    ) {
        withoutGradients {
            let n = images.shape[0]
            let per = images.count / max(n, 1)
            let params = ParameterList(specs: config.specs, values: weights.map { Variable($0) })
            var start = 0
            while start < n {
                let end = min(n, start + chunk)
                var shape = images.shape
                shape[0] = end - start
                let x = Tensor(shape: shape, scalars: Array(images.scalars[start * per..<end * per]))
                var m = Layers.BatchMeans(values: means.map { Variable($0) })
                body(params, &m, Variable(x))
                start = end
            }
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
public func trainLearner(
    _ config: any LearnerArchitecture, initialWeights: [Tensor<Float>], steps: Int,
    optimizer: InnerOptimizer = .sgd, learningRates: [Float], momenta: [Float],
    batch: (Int) -> (images: Tensor<Float>, targets: Tensor<Float>),
    afterStep: ((Int, TrainedLearner) -> Void)? = nil
) -> TrainedLearner {
    precondition(
        learningRates.count >= steps && momenta.count >= steps,
        "trainLearner: \(steps) steps but \(learningRates.count) learning rates, \(momenta.count) momenta")
    var w = initialWeights
    var v = w.map { Tensor<Float>.zeros($0.shape) }
    var second = optimizer.usesSecondMoment ? v : []
    var means: [Tensor<Float>] = []
    for t in 0..<steps {
        let (x, y) = batch(t)
        let vars = w.map { Variable($0, requiresGrad: true) }
        var m = Layers.BatchMeans<Float>.collect
        let loss = crossEntropy(
            logProbs: config.logProbabilities(ParameterList(specs: config.specs, values: vars), Variable(x), means: &m),
            targets: Variable(y))
        let g = gradients(of: loss, wrt: vars).map(\.value)
        means = m.values.map(\.value)
        // The meta-trainer's own update rule, run without a graph.
        (w, v, second) = withoutGradients {
            let constant = { (ts: [Tensor<Float>]) in ts.map { Variable($0) } }
            let r = optimizer.step(
                t, weights: constant(w), velocity: constant(v), second: constant(second), gradients: constant(g),
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

    /// The training batch of inner step `t` for a learner episode drawn from `seed` (images and
    /// targets), computed without a graph. The real-data teacher needs `realData`.
    public func generatedBatch(step t: Int, seed: UInt64, realData: RealBatchSource? = nil) -> (
        images: Tensor<Float>, targets: Tensor<Float>
    ) {
        batchMaker(episode(seed: seed, steps: t + 1, realData: realData))(t)
    }

    /// Makes the training batches of one episode; the generator's weights are prepared (weight
    /// norm folded) once for all of them.
    func batchMaker(_ ep: Episode) -> (Int) -> (images: Tensor<Float>, targets: Tensor<Float>) {
        let teacher = withoutGradients { teacherVariables(state.parameters.map { Variable($0) }) }
        return { t in
            withoutGradients {
                let b = trainingBatch(step: t, teacher: teacher, episode: ep)
                return (b.images.value, b.targets.value)
            }
        }
    }

    /// The training batches of all T inner steps for the episode drawn from `seed`.
    public func generatedBatches(seed: UInt64, realData: RealBatchSource? = nil) -> [(
        images: Tensor<Float>, targets: Tensor<Float>
    )] {
        let make = batchMaker(episode(seed: seed, realData: realData))
        return (0..<config.innerSteps).map(make)
    }

    /// Trains a fresh learner (drawn from `seed`) on this teacher's data, calling `afterStep`
    /// after every step. By default T steps of batch B, as meta-trained; `steps` > T repeats the
    /// learned curriculum and schedule (step t uses those of t mod T), `batchMultiplier` k > 1
    /// trains on k*B examples a step (the learned noise plus fresh noise) (paper Fig. 5). The
    /// real-data teacher needs `realData`.
    public func teach(
        seed: UInt64, steps: Int? = nil, batchMultiplier: Int = 1, realData: RealBatchSource? = nil,
        afterStep: ((Int, TrainedLearner) -> Void)? = nil
    ) -> TrainedLearner {
        let n = steps ?? config.innerSteps
        let ep = episode(seed: seed, steps: n, batchMultiplier: batchMultiplier, realData: realData)
        let t = config.innerSteps
        let (lrs, moms) = (innerLearningRates, innerMomenta)
        return trainLearner(
            ep.learner, initialWeights: ep.learnerInit, steps: n,
            optimizer: config.innerOptimizer, learningRates: (0..<n).map { lrs[$0 % t] },
            momenta: (0..<n).map { moms[$0 % t] }, batch: batchMaker(ep), afterStep: afterStep)
    }

    /// The control: the same fresh learner trained on real batches with plain SGD + momentum at a
    /// constant learning rate and momentum (by default the configured initial ones, not the
    /// meta-learned schedule), for T steps of B by default.
    public func trainOnRealData(
        seed: UInt64, data: RealBatchSource, steps: Int? = nil, batchMultiplier: Int = 1,
        learningRate: Double? = nil, momentum: Double? = nil,
        afterStep: ((Int, TrainedLearner) -> Void)? = nil
    ) -> TrainedLearner {
        let ep = episode(seed: seed, steps: 0)
        var rng = RandomSource(seed: seed ^ 0x5EA1)
        let t = steps ?? config.innerSteps
        return trainLearner(
            ep.learner, initialWeights: ep.learnerInit, steps: t,
            learningRates: Array(repeating: Float(learningRate ?? config.innerLearningRate), count: t),
            momenta: Array(repeating: Float(momentum ?? config.innerMomentum), count: t),
            batch: { _ in
                let b = data(config.batchSize * batchMultiplier, &rng)
                return (b.images, oneHot(b.labels, classes: config.learner.classes))
            }, afterStep: afterStep)
    }
}

/// The real-data control's learning rate and momentum, chosen as a reviewer would insist: every
/// pair of a grid is tried on fresh learners that are not among the evaluated ones, for the same
/// steps and batch, and scored on the validation split; the best mean wins.
public struct RealDataTuning: Codable, Sendable {
    public var learningRates: [Double]
    public var momenta: [Double]
    /// Mean validation accuracy of the tuning learners, [learning rate][momentum].
    public var validationAccuracy: [[Double]]
    public var tuningLearners: Int
    public var bestLearningRate: Double
    public var bestMomentum: Double

    public static let defaultLearningRates = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    public static let defaultMomenta = [0.0, 0.5, 0.9]
    /// Tuning learners are drawn from seeds far from the evaluated learners' (seed + k).
    static let seedOffset: UInt64 = 0x7075_6E65

    /// True when the best pair lies on the grid's edge in learning rate (a wider grid might do better);
    /// a single learning rate was fixed, not searched, so it has no edge to widen.
    public var bestIsOnEdge: Bool {
        learningRates.count > 1
            && (bestLearningRate == learningRates.first || bestLearningRate == learningRates.last)
    }
}

/// Tunes the real-data control's constant learning rate and momentum on `validation` (see
/// `RealDataTuning`). Grid points are shared out over the ranks of `collective`.
public func tuneRealDataControl(
    _ trainer: MetaTrainer, train: Dataset, validation: Dataset, steps: Int? = nil, batchMultiplier: Int = 1,
    learningRates: [Double] = RealDataTuning.defaultLearningRates, momenta: [Double] = RealDataTuning.defaultMomenta,
    tuningLearners: Int = 2, seed: UInt64 = 0xE7A1, collective: (any Collective)? = nil,
    shouldStop: () -> Bool = { false },
    progress: ((_ learningRate: Double, _ momentum: Double, _ accuracy: Double) -> Void)? = nil
) throws(EvaluationStopped) -> RealDataTuning {
    precondition(!learningRates.isEmpty && !momenta.isEmpty && tuningLearners > 0)
    let source: RealBatchSource = { size, rng in train.randomBatch(size: size, using: &rng) }
    let (rank, ranks) = (collective?.rank ?? 0, collective?.size ?? 1)
    var scores = [Double](repeating: 0, count: learningRates.count * momenta.count)
    for p in stride(from: rank, to: scores.count, by: ranks) {
        let (lr, m) = (learningRates[p / momenta.count], momenta[p % momenta.count])
        var sum = 0.0
        for j in 0..<tuningLearners {
            if shouldStop() { throw EvaluationStopped() }
            let learner = trainer.trainOnRealData(
                seed: seed &+ RealDataTuning.seedOffset &+ UInt64(j), data: source, steps: steps,
                batchMultiplier: batchMultiplier, learningRate: lr, momentum: m)
            sum += learner.accuracy(on: validation)  // a diverged learner scores what it predicts (often < chance)
        }
        scores[p] = sum / Double(tuningLearners)
        progress?(lr, m, scores[p])
    }
    if let c = collective, c.size > 1 { c.allReduceSum(&scores) }
    let best = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }!
    return RealDataTuning(
        learningRates: learningRates, momenta: momenta,
        validationAccuracy: learningRates.indices.map { i in
            Array(scores[(i * momenta.count)..<((i + 1) * momenta.count)])
        },
        tuningLearners: tuningLearners, bestLearningRate: learningRates[best / momenta.count],
        bestMomentum: momenta[best % momenta.count])
}

/// What `evaluateTeacher` measured (written by `gtn evaluate` as evaluate.json; `gtn report`
/// charts it).
public struct TeacherEvaluation: Codable, Sendable {
    public var iteration: Int
    public var learners: Int
    /// Inner steps the teacher was meta-trained for, and the steps and batch size evaluated.
    public var innerSteps: Int
    public var steps: Int
    public var batchSize: Int
    /// Mean and standard deviation over learners of the accuracy after inner step 1, 2, ..., steps.
    public var gtnPerStep: [Double]
    public var gtnPerStepSD: [Double]
    /// The real-data control's mean accuracy per step (when run), and the constant learning rate
    /// and momentum it trained with (tuned on the validation split by `gtn evaluate`: `realTuning`).
    public var realPerStep: [Double]?
    public var realLearningRate: Double?
    public var realMomentum: Double?
    public var realTuning: RealDataTuning?
    /// Other teachers evaluated on the same fresh learners (`gtn evaluate --compare RUN`).
    public var compared: [ComparedTeacher]?
    /// Final accuracy of every learner on the final set.
    public var gtnFinal: [Double]
    public var realFinal: [Double]?
    /// Accuracy of the ensemble (mean probability) of the first k taught learners, k = 1...learners.
    public var ensembleBySize: [Double]
    public var seconds: Double
}

/// Trains `learners` fresh learners on the teacher's data (and, with `realDataControl`, each also
/// on real data), scoring every step on `perStep` and the final learners on `final`. Learner k is
/// drawn from `seed + k`, so a learner and its control start from the same weights.
/// An evaluation was stopped (a signal) before it finished; nothing of it is kept.
public struct EvaluationStopped: Error {}

public func evaluateTeacher(
    _ trainer: MetaTrainer, train: Dataset, perStep: Dataset, final: Dataset,
    learners: Int, steps: Int? = nil, batchMultiplier: Int = 1, realDataControl: Bool,
    realLearningRate: Double? = nil, realMomentum: Double? = nil, seed: UInt64 = 0xE7A1,
    shouldStop: () -> Bool = { false }, collective: (any Collective)? = nil,
    progress: ((_ learner: Int, _ taught: Double, _ real: Double?) -> Void)? = nil
)
    throws(EvaluationStopped) -> TeacherEvaluation
{
    let start = DispatchTime.now().uptimeNanoseconds
    let n = steps ?? trainer.config.innerSteps
    let source: RealBatchSource = { size, rng in train.randomBatch(size: size, using: &rng) }
    // Indexed by learner. In a distributed evaluation (MPI) rank r trains learners r, r + N, ...;
    // the others' entries stay zero until the sums below gather everything on every rank.
    var curves = [[Double]](repeating: [Double](repeating: 0, count: n), count: learners)
    var realCurves = curves
    var finals = [Double](repeating: 0, count: learners)
    var realFinals = finals
    var probabilities = [Tensor<Float>?](repeating: nil, count: learners)
    // A stop asked for while learners train (Ctrl-C in the final evaluation, which scores the
    // whole test set) skips the remaining scoring, which is most of the time, and the training
    // steps left only run to the end of the current learner.
    func stopIfAsked() throws(EvaluationStopped) { if shouldStop() { throw EvaluationStopped() } }
    let (rank, ranks) = (collective?.rank ?? 0, collective?.size ?? 1)
    for k in stride(from: rank, to: learners, by: ranks) {
        try stopIfAsked()
        let s = seed &+ UInt64(k)
        var curve: [Double] = []
        let learner = withoutActuallyEscaping(shouldStop) { stop in
            trainer.teach(seed: s, steps: n, batchMultiplier: batchMultiplier, realData: source) { _, l in
                if !stop() { curve.append(l.accuracy(on: perStep)) }
            }
        }
        try stopIfAsked()
        probabilities[k] = learner.logProbabilities(final.images).exp()
        curves[k] = curve
        finals[k] = learner.accuracy(on: final)
        var realFinal: Double?
        if realDataControl {
            var realCurve: [Double] = []
            let real = withoutActuallyEscaping(shouldStop) { stop in
                trainer.trainOnRealData(
                    seed: s, data: source, steps: n, batchMultiplier: batchMultiplier, learningRate: realLearningRate,
                    momentum: realMomentum
                ) { _, l in
                    if !stop() { realCurve.append(l.accuracy(on: perStep)) }
                }
            }
            try stopIfAsked()
            realCurves[k] = realCurve
            realFinal = real.accuracy(on: final)
            realFinals[k] = realFinal!
        }
        progress?(k, finals[k], realFinal)
    }
    if let c = collective, c.size > 1 {
        // Every rank's learners on every rank: each entry is non-zero on exactly one rank.
        var numbers = curves.flatMap { $0 } + realCurves.flatMap { $0 } + finals + realFinals
        c.allReduceSum(&numbers)
        let m = learners * n
        curves = (0..<learners).map { Array(numbers[($0 * n)..<($0 * n + n)]) }
        realCurves = (0..<learners).map { Array(numbers[(m + $0 * n)..<(m + $0 * n + n)]) }
        finals = Array(numbers[(2 * m)..<(2 * m + learners)])
        realFinals = Array(numbers[(2 * m + learners)...])
        let shape = [final.count, trainer.config.learner.classes]
        let size = shape.reduce(1, *)
        var flat = (0..<learners).flatMap { probabilities[$0]?.scalars ?? [Float](repeating: 0, count: size) }
        c.allReduceSum(&flat)
        probabilities = (0..<learners).map {
            Tensor(shape: shape, scalars: Array(flat[($0 * size)..<($0 * size + size)]))
        }
    }
    // The ensemble of the first k learners, k = 1 ... learners, in learner order.
    var summed: Tensor<Float>?
    let ensemble = probabilities.map { probs -> Double in
        summed = summed.map { $0 + probs! } ?? probs!
        return Double(zip(summed!.argmaxRows(), final.labels).filter { $0 == $1 }.count) / Double(max(final.count, 1))
    }
    return TeacherEvaluation(
        iteration: trainer.state.iteration, learners: learners, innerSteps: trainer.config.innerSteps, steps: n,
        batchSize: trainer.config.batchSize * batchMultiplier,
        gtnPerStep: (0..<n).map { t in mean(curves.map { $0[t] }) },
        gtnPerStepSD: (0..<n).map { t in sampleStandardDeviation(curves.map { $0[t] }) },
        realPerStep: realDataControl ? (0..<n).map { t in mean(realCurves.map { $0[t] }) } : nil,
        realLearningRate: realDataControl ? realLearningRate ?? trainer.config.innerLearningRate : nil,
        realMomentum: realDataControl ? realMomentum ?? trainer.config.innerMomentum : nil,
        gtnFinal: finals, realFinal: realDataControl ? realFinals : nil, ensembleBySize: ensemble,
        seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// Another trained teacher evaluated on the same fresh learners as the main one (same seeds and
/// architecture, so learner k starts from the same weights in every row): the paper's Fig. 2a
/// comparison of GTN, real data with a meta-learned schedule, and dataset distillation.
public struct ComparedTeacher: Codable, Sendable {
    public var path: String
    public var teacher: String
    public var iteration: Int
    public var perStep: [Double]
    public var final: [Double]

    public init(path: String, teacher: String, iteration: Int, perStep: [Double], final: [Double]) {
        (self.path, self.teacher, self.iteration, self.perStep, self.final) = (path, teacher, iteration, perStep, final)
    }
}
