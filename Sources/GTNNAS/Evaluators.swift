import Foundation
import GTN
import GTNAutodiff
import GTNData
import GTNIO
import GTNNN
import GTNTensor

/// One scored architecture.
public struct Evaluation: Codable, Sendable, Hashable {
    /// The genome's string form.
    public var genome: String
    /// Validation accuracy of the trained learner.
    public var accuracy: Double
    /// Wall-clock seconds the evaluation took (training and scoring).
    public var seconds: Double
    public init(genome: String, accuracy: Double, seconds: Double) {
        (self.genome, self.accuracy, self.seconds) = (genome, accuracy, seconds)
    }
}

/// An evaluator's results by genome string, in memory and optionally in a JSON-lines file, so an
/// interrupted study resumes where it stopped. Each line carries the evaluator's `signature` (its
/// settings); lines written under other settings are ignored, as are damaged lines (a run killed
/// mid-write).
public final class EvaluationCache: @unchecked Sendable {
    public let signature: String
    public let path: String?
    private var entries: [String: Evaluation] = [:]
    private let lock = NSLock()

    struct Line: Codable {
        var signature: String
        var evaluation: Evaluation
    }

    public init(signature: String, path: String? = nil) throws {
        (self.signature, self.path) = (signature, path)
        guard let path, FileManager.default.fileExists(atPath: path) else { return }
        let data = try readFile(path)
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let l = try? JSONDecoder().decode(Line.self, from: Data(line)), l.signature == signature else {
                continue
            }
            entries[l.evaluation.genome] = l.evaluation
        }
    }

    public subscript(genome: String) -> Evaluation? { lock.withLock { entries[genome] } }

    public var count: Int { lock.withLock { entries.count } }

    /// Every stored evaluation.
    public var all: [Evaluation] { lock.withLock { Array(entries.values) } }

    /// Stores `e` (and appends it to the file).
    public func record(_ e: Evaluation) throws {
        lock.withLock { entries[e.genome] = e }
        guard let path else { return }
        var bytes = try JSONEncoder.sortedCompact.encode(Line(signature: signature, evaluation: e))
        bytes.append(UInt8(ascii: "\n"))
        try lock.withLock {
            if !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw FileError(path: path, errno: nil, message: "\(path): cannot create the cache file")
                }
            }
            guard let handle = FileHandle(forUpdatingAtPath: path) else {
                throw FileError(path: path, errno: nil, message: "\(path): cannot open the cache file for writing")
            }
            defer { try? handle.close() }
            // A run killed mid-write leaves a torn last line: end it first, or this record would
            // be glued to it and lost with it.
            let end = try handle.seekToEnd()
            if end > 0 {
                try handle.seek(toOffset: end - 1)
                if try handle.read(upToCount: 1) != Data([UInt8(ascii: "\n")]) {
                    bytes.insert(UInt8(ascii: "\n"), at: 0)
                }
                try handle.seekToEnd()
            }
            try handle.write(contentsOf: bytes)
        }
    }
}

extension JSONEncoder {
    static var sortedCompact: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

/// Scores architectures through a cache: a genome already scored (in this process or, with a
/// cache file, in an earlier one) is not trained again. Not for concurrent use.
public class CachedEvaluator {
    public let name: String
    public let cache: EvaluationCache
    /// Trains the architecture and returns its validation accuracy.
    let score: (any LearnerArchitecture) -> Double
    /// Evaluations actually run (cache misses) by this object.
    public internal(set) var evaluationsRun = 0

    public init(name: String, cache: EvaluationCache, score: @escaping (any LearnerArchitecture) -> Double) {
        (self.name, self.cache, self.score) = (name, cache, score)
    }

    /// The evaluation of `genome` (its string form is the key), from the cache or by training
    /// `architecture`.
    public func evaluate(genome: String, architecture: @autoclosure () -> any LearnerArchitecture) throws -> Evaluation
    {
        if let hit = cache[genome] { return hit }
        let start = DispatchTime.now().uptimeNanoseconds
        let accuracy = score(architecture())
        let e = Evaluation(
            genome: genome, accuracy: accuracy, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        evaluationsRun += 1
        try cache.record(e)
        return e
    }

    public func evaluate<Space: SearchSpace>(_ genome: Space.Genome, in space: Space) throws -> Evaluation {
        try evaluate(genome: genome.description, architecture: space.network(for: genome))
    }

    /// Mean seconds per evaluation over the cached results (those of earlier runs included).
    public var meanSeconds: Double {
        mean(cache.all.map(\.seconds))
    }
}

extension LearnerArchitecture {
    /// Fresh weights drawn from `seed`, as plain tensors (what `trainLearner` takes).
    public func initialWeights(seed: UInt64) -> [Tensor<Float>] {
        var rng = RandomSource(seed: seed)
        let p: ParameterList<Float> = initialParameters(&rng)
        return p.values.map(\.value)
    }

    /// Number of learnable scalars.
    public var parameterCount: Int { specs.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

/// The first `count` examples of `data` (the fixed validation subset both evaluators score on).
public func validationSubset(_ data: Dataset, count: Int) -> Dataset { data.slice(0..<min(count, data.count)) }

/// The GTN proxy (paper §4): a fresh learner of the architecture, drawn from a fixed seed, trained
/// for the teacher's T inner steps on its generated batches with its meta-learned per-step learning
/// rates and momenta (and inner optimiser); score: accuracy on a fixed validation subset. With
/// `learners` > 1 the score is the mean over that many initialisations (seeds seed, seed+1, ...).
public final class GTNProxyEvaluator: CachedEvaluator {
    public struct Settings: Sendable, Hashable {
        /// Inner steps (default T; more steps repeat the learned curriculum and schedule).
        public var steps: Int?
        public var learners = 1
        /// The learner's initialisation seed and the teacher's episode seed.
        public var seed: UInt64 = 0
        public init(steps: Int? = nil, learners: Int = 1, seed: UInt64 = 0) {
            (self.steps, self.learners, self.seed) = (steps, learners, seed)
        }
    }

    public let settings: Settings

    /// `checkpointID` names the teacher in the cache signature (e.g. the checkpoint's path and
    /// meta-iteration). `train` feeds the real-data teacher, if that is what the checkpoint holds.
    /// `context` (e.g. the search space's `signature`) joins the cache signature, so results of
    /// other settings in the same cache file are not reused.
    public init(
        trainer: MetaTrainer, checkpointID: String, validation: Dataset, train: Dataset? = nil,
        settings: Settings = Settings(), context: String = "", cachePath: String? = nil
    ) throws {
        self.settings = settings
        let c = trainer.config
        let t = c.innerSteps
        let n = settings.steps ?? t
        let source: RealBatchSource? = train.map { d in { size, rng in d.randomBatch(size: size, using: &rng) } }
        // The teacher's batches depend on the episode seed only, not on the learner: make them once.
        let made = trainer.generatedBatches(seed: settings.seed, realData: source)
        let batches = (0..<n).map { made[$0 % t] }
        let (lrs, moms) = (trainer.innerLearningRates, trainer.innerMomenta)
        let learningRates = (0..<n).map { lrs[$0 % t] }
        let momenta = (0..<n).map { moms[$0 % t] }
        let signature =
            "gtn-proxy v1 teacher=\(checkpointID) steps=\(n) learners=\(settings.learners) seed=\(settings.seed) "
            + "validation=\(validation.name):\(validation.count) \(context)"
        let cache = try EvaluationCache(signature: signature, path: cachePath)
        super.init(name: "GTN proxy", cache: cache) { arch in
            var total = 0.0
            for k in 0..<settings.learners {
                let learner = trainLearner(
                    arch, initialWeights: arch.initialWeights(seed: settings.seed &+ UInt64(k)), steps: n,
                    optimizer: c.innerOptimizer,
                    learningRates: learningRates, momenta: momenta, batch: { batches[$0] })
                total += learner.accuracy(on: validation)
            }
            return total / Double(settings.learners)
        }
    }
}

/// Real training, the "true" score: a fresh learner (same seed for every architecture) trained for
/// `steps` SGD-with-momentum steps on random real batches (the same batch sequence for every
/// architecture), learning rate cosine-annealed to zero when `cosine` is set; score: accuracy on
/// the fixed validation subset.
public final class RealDataEvaluator: CachedEvaluator {
    public struct Settings: Sendable, Hashable {
        public var steps = 80
        public var batchSize = 64
        public var learningRate = 0.05
        public var momentum = 0.9
        public var cosine = true
        public var seed: UInt64 = 0
        public init(
            steps: Int = 80, batchSize: Int = 64, learningRate: Double = 0.05, momentum: Double = 0.9,
            cosine: Bool = true, seed: UInt64 = 0
        ) {
            (self.steps, self.batchSize, self.learningRate, self.momentum, self.cosine, self.seed) =
                (steps, batchSize, learningRate, momentum, cosine, seed)
        }

        /// The learning rate of each step.
        public var schedule: [Float] {
            (0..<steps).map { t in
                Float(
                    cosine
                        ? learningRate * 0.5 * (1 + Foundation.cos(Double.pi * Double(t) / Double(max(steps, 1))))
                        : learningRate)
            }
        }
    }

    public let settings: Settings

    public init(
        train: Dataset, validation: Dataset, settings: Settings = Settings(), context: String = "",
        cachePath: String? = nil
    ) throws {
        self.settings = settings
        let s = settings
        let signature =
            "real v1 train=\(train.name):\(train.count) steps=\(s.steps) batch=\(s.batchSize) lr=\(s.learningRate) "
            + "momentum=\(s.momentum) cosine=\(s.cosine) seed=\(s.seed) "
            + "validation=\(validation.name):\(validation.count) \(context)"
        let cache = try EvaluationCache(signature: signature, path: cachePath)
        let lrs = s.schedule
        let moms = [Float](repeating: Float(s.momentum), count: s.steps)
        super.init(name: "real training", cache: cache) { arch in
            var data = RandomSource(seed: s.seed ^ 0xDA7A)
            let learner = trainLearner(
                arch, initialWeights: arch.initialWeights(seed: s.seed), steps: s.steps, optimizer: .sgd,
                learningRates: lrs, momenta: moms,
                batch: { _ in
                    let b = train.randomBatch(size: s.batchSize, using: &data)
                    return (b.images, oneHotLabels(b.labels, classes: train.classes))
                })
            return learner.accuracy(on: validation)
        }
    }
}

/// The true score as the mean of several real trainings that differ only in their seed (learner
/// initialisation and batch order). One one-epoch training's seed noise (~0.3 points here) is as
/// large as the differences among the better half of the architectures, so that half ranks no
/// better than chance against a single training (docs/NOTES.md, issue 15); the mean over K seeds
/// shrinks the noise by sqrt(K). Each seed is a `RealDataEvaluator` with its own cache entries (the
/// seed is in their signature; one file may hold them all), so a study with more seeds reuses the
/// trainings of one with fewer. Its seconds are the sum: the truth's whole cost.
public final class MeanOverSeedsEvaluator: CachedEvaluator {
    public let members: [RealDataEvaluator]

    public init(_ members: [RealDataEvaluator]) throws {
        precondition(!members.isEmpty, "the mean of no trainings")
        self.members = members
        // In memory only, filled from the members' caches: what every seed has already scored.
        let cache = try EvaluationCache(
            signature: "mean of " + members.map(\.cache.signature).joined(separator: " | "))
        for e in members[0].cache.all {
            let all = members.compactMap { $0.cache[e.genome] }
            if all.count == members.count { try cache.record(Self.mean(all)) }
        }
        super.init(name: "real training, mean of \(members.count) seeds", cache: cache) { _ in
            preconditionFailure("scored through its members")
        }
    }

    static func mean(_ all: [Evaluation]) -> Evaluation {
        Evaluation(
            genome: all[0].genome, accuracy: all.map(\.accuracy).reduce(0, +) / Double(all.count),
            seconds: all.map(\.seconds).reduce(0, +))
    }

    public override func evaluate(genome: String, architecture: @autoclosure () -> any LearnerArchitecture) throws
        -> Evaluation
    {
        if let hit = cache[genome] { return hit }
        let before = members.map(\.evaluationsRun).reduce(0, +)
        let all = try members.map { try $0.evaluate(genome: genome, architecture: architecture()) }
        evaluationsRun += members.map(\.evaluationsRun).reduce(0, +) - before
        let e = Self.mean(all)
        try cache.record(e)
        return e
    }
}

/// The op-kernel profile (when the environment sets GTN_PROFILE=1), for `gtn nas --measure`.
public func opProfileReport() -> String? { OpProfiler.isEnabled ? OpProfiler.report(limit: 25) : nil }
