import Foundation
import GTNData
import GTNIO
import GTNTensor

/// Where a run writes, and how often it evaluates, checkpoints and draws samples.
public struct RunOptions: Sendable {
    public var directory: String
    public var evaluateEvery = 50
    public var checkpointEvery = 10
    public var samplesEvery = 50
    /// Validation examples scored after every inner step of an evaluation learner.
    public var evaluationExamples = 2000
    /// A new run may replace the files of a directory that is not empty but holds no checkpoint
    /// (a run stopped before its first one); without this it refuses, so nothing of the user's
    /// is overwritten.
    public var overwrite = false
    /// The directory the data was read from: a new run records it with a fingerprint of the data
    /// (`DataRecord`, data.json), so that resume, evaluate and nas find it again.
    public var dataDirectory: String?
    /// A reference classifier (`gtn classifier train`): with one, every sample grid is also scored
    /// for realism and coverage (`SampleScores`) into scores.jsonl.
    public var classifierPath: String?
    /// Evaluate on the whole test set after the last meta-iteration (`gtn tune`'s short trials
    /// evaluate on validation examples instead, and skip it).
    public var finalEvaluation = true
    public init(directory: String) { self.directory = directory }

    /// The four settings above that a run keeps in `cadence.json`.
    public var cadence: RunCadence {
        get { RunCadence(evaluateEvery, checkpointEvery, samplesEvery, evaluationExamples) }
        set {
            (evaluateEvery, checkpointEvery, samplesEvery, evaluationExamples) =
                (newValue.evaluateEvery, newValue.checkpointEvery, newValue.samplesEvery, newValue.evaluationExamples)
        }
    }
}

/// How often a run evaluates, checkpoints and draws samples, and on how many examples it evaluates
/// (`cadence.json` in its run directory). None of it changes what the meta-iterations compute, so
/// a resumed run may change it; one that names none of it goes on as it was started (a run started
/// with `--eval-every 50` and resumed by its printed `gtn train --resume DIR` must not fall back to
/// the command's defaults half-way through its curve).
public struct RunCadence: RunFile, Equatable, Sendable {
    public var evaluateEvery: Int
    public var checkpointEvery: Int
    public var samplesEvery: Int
    public var evaluationExamples: Int

    public static let fileName = "cadence.json"
    public static let describedAs = "the cadence of a run"

    public init(_ evaluateEvery: Int, _ checkpointEvery: Int, _ samplesEvery: Int, _ evaluationExamples: Int) {
        (self.evaluateEvery, self.checkpointEvery, self.samplesEvery, self.evaluationExamples) =
            (evaluateEvery, checkpointEvery, samplesEvery, evaluationExamples)
    }
}

/// What a run reports as it goes (the CLI draws these as a progress bar and log lines).
public enum RunEvent {
    case started(iteration: Int, of: Int, resumed: Bool)
    case metaStep(MetaStepMetrics)
    /// An evaluation is starting (`fullTest`: the final one, on the whole test set, which takes longer).
    case evaluating(iteration: Int, fullTest: Bool)
    case evaluated(EvaluationRecord)
    case checkpointed(path: String)
    case samples(path: String)
    case interrupted(iteration: Int)
    case finished(EvaluationRecord?)
}

/// One evaluation: a fresh learner taught by the GTN (accuracy after every inner step) next to the
/// same learner trained for as many steps on real data.
public struct EvaluationRecord: Codable, Sendable {
    public var iteration: Int
    /// Validation accuracy of the GTN-taught learner after inner step 1, 2, ..., T.
    public var validationPerStep: [Double]
    /// Test accuracy after T steps on GTN data.
    public var testAccuracy: Double
    /// The control: the same fresh learner after T SGD steps on real data (initial inner lr and momentum).
    public var realDataValidationPerStep: [Double]
    public var realDataTestAccuracy: Double
    public var seconds: Double
}

/// A meta-training run on disk: `config.json`, `metrics.jsonl` (one row per meta-iteration),
/// `evaluations.jsonl`, `checkpoint.safetensors` (atomic), `cadence.json` and `samples/*.png`.
public struct TrainingSession {
    public var trainer: MetaTrainer
    public let data: DataSplits
    public let options: RunOptions
    public var resumed = false
    /// Loaded from `options.classifierPath` when the run starts.
    var classifier: ReferenceClassifier?

    public var checkpointPath: String { options.directory + "/checkpoint.safetensors" }
    var metricsPath: String { options.directory + "/metrics.jsonl" }
    var evaluationsPath: String { options.directory + "/evaluations.jsonl" }
    var scoresPath: String { options.directory + "/scores.jsonl" }

    /// A new run. Refuses to overwrite a directory that already holds a run.
    public init(config: GTNConfig, data: DataSplits, options: RunOptions) throws {
        try config.validate()
        try Self.checkCompatible(config, data)
        if FileManager.default.fileExists(atPath: options.directory + "/checkpoint.safetensors") {
            throw ConfigError(
                message:
                    "\(options.directory) already holds a run; pass --resume to continue it or choose another --output")
        }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: options.directory)) ?? []
        if !existing.isEmpty && !options.overwrite {
            throw ConfigError(
                message:
                    "\(options.directory) is not empty "
                    + "(\(existing.sorted().prefix(3).joined(separator: ", "))\(existing.count > 3 ? ", ..." : "")) and holds no checkpoint to resume; choose another --output, or pass --overwrite to replace a run that stopped before its first checkpoint"
            )
        }
        try createDirectory(options.directory)
        try createDirectory(options.directory + "/samples")
        try writeAtomically(JSONEncoder.sorted.encode(config), to: options.directory + "/config.json")
        if let d = options.dataDirectory {
            try DataRecord(path: d, splits: data).write(runDirectory: options.directory)
        }
        try options.cadence.write(runDirectory: options.directory)
        for p in [options.directory + "/metrics.jsonl", options.directory + "/evaluations.jsonl"] {
            try writeAtomically(Data(), to: p)
        }
        (self.trainer, self.data, self.options) = (MetaTrainer(config: config), data, options)
    }

    /// Continues the run in `options.directory` from its checkpoint, at `options`' cadence (which
    /// it keeps from here on: see `RunCadence`).
    public init(resuming options: RunOptions, data: DataSplits) throws {
        let path = options.directory + "/checkpoint.safetensors"
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(path: path, message: "no checkpoint to resume from")
        }
        let trainer = try Checkpoint.load(path: path)
        try Self.checkCompatible(trainer.config, data)
        (self.trainer, self.data, self.options, self.resumed) = (trainer, data, options, true)
        // Rows written after the checkpoint belong to iterations that will run again.
        try Self.truncateRows(path: metricsPath, keepingBelow: trainer.state.iteration)
        try Self.truncateRows(path: evaluationsPath, keepingBelow: trainer.state.iteration + 1)
        try Self.truncateRows(path: scoresPath, keepingBelow: trainer.state.iteration + 1)
        if try RunCadence.load(runDirectory: options.directory) != options.cadence {
            try options.cadence.write(runDirectory: options.directory)
        }
    }

    /// What a resumed run may change, none of which alters what the finished iterations computed:
    /// the number of meta-iterations (to extend a run; the cosine schedule of the meta learning
    /// rate is then stretched to the new total from here on) and the memory/time trade of
    /// checkpointing (bitwise the same results). Written to config.json and, at the next save, to
    /// the checkpoint.
    public mutating func resumeChanges(iterations: Int?, checkpointBlock: Int?, replayCacheMegabytes: Int?) throws {
        var c = trainer.config
        if let n = iterations {
            let done = trainer.state.iteration
            guard n >= done else {
                throw ConfigError(
                    message:
                        "metaIterations (--iterations) \(n): the run in \(options.directory) has already "
                        + "done \(counted(done, "meta-iteration"))"
                )
            }
            c.metaIterations = n
        }
        if let v = checkpointBlock { c.checkpointBlock = v }
        if let v = replayCacheMegabytes { c.replayCacheMegabytes = v }
        guard c != trainer.config else { return }
        try c.validate()
        trainer.config = c
        try writeAtomically(JSONEncoder.sorted.encode(c), to: options.directory + "/config.json")
    }

    /// True when every meta-iteration of the run's configuration is done.
    public var isComplete: Bool { trainer.state.iteration >= trainer.config.metaIterations }

    static func checkCompatible(_ config: GTNConfig, _ data: DataSplits) throws {
        if config.learner.image.dims != data.imageShape || config.learner.classes != data.classes {
            throw ConfigError(
                message:
                    "the configuration expects \(config.learner.classes) classes of \(config.learner.image.dims) "
                    + "images, data set \(data.name) has \(data.classes) classes of \(data.imageShape)"
            )
        }
        try checkSizes(config, data)
    }

    /// Checks every size that is drawn from the data or held in memory before any work starts,
    /// with a message that names the setting and its flag (these used to end in a precondition
    /// trap or a failed allocation after the run directory was made).
    /// `evaluating`: only fresh learners are trained (`gtn evaluate`), no meta-gradient graph.
    public static func checkSizes(
        _ config: GTNConfig, _ data: DataSplits, batchMultiplier: Int = 1, evaluating: Bool = false
    ) throws {
        for (split, set) in [("training", data.train), ("validation", data.validation), ("test", data.test)]
        where set.count == 0 {
            throw ConfigError(message: "data set \(data.name) has no \(split) images")
        }
        // Real batches are drawn without replacement from the training split.
        let n = data.train.count
        if config.metaBatchSize > n {
            throw ConfigError(
                message:
                    "metaBatchSize (--meta-batch-size) \(config.metaBatchSize) is larger than the training split "
                    + "of \(data.name) (\(n) images)"
            )
        }
        let batch = config.batchSize * batchMultiplier
        if config.teacher == .real && batch > n {
            throw ConfigError(
                message:
                    "the real-data teacher draws batchSize (--batch-size) \(batch) images per step, more than the "
                    + "training split of \(data.name) (\(n) images)"
            )
        }
        let estimate = memoryEstimate(config, batch: batch, evaluating: evaluating)
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        if estimate > available {
            let what =
                evaluating
                ? "a batch of \(batch) examples (B x --batch-multiplier)"
                : "batchSize (--batch-size) \(batch) and metaBatchSize (--meta-batch-size) \(config.metaBatchSize)"
            throw ConfigError(
                message: String(
                    format: "%@ would need about %.0f GB; this machine has %.0f GB", what, estimate / 1e9,
                    available / 1e9))
        }
    }

    /// A rough estimate of the peak memory in bytes, to refuse absurd sizes up front: the graph of
    /// one inner step is about 3.3 MB per 28x28 example (measured: ~0.42 GB at B = 128, T = 32
    /// unrolled, the official MNIST networks), scaled by pixels, and a checkpointed run holds one
    /// block of steps; training a learner without that graph (evaluation) takes about 1.5 MB.
    static func memoryEstimate(_ config: GTNConfig, batch: Int, evaluating: Bool = false) -> Double {
        let pixels = Double(config.learner.image.dims.reduce(1, *)) / 784
        if evaluating { return 1.5e6 * pixels * Double(batch) }
        let steps = Double(
            config.checkpointBlock > 0 ? min(config.checkpointBlock, config.innerSteps) : config.innerSteps)
        return 3.3e6 * pixels * (steps * Double(batch) + Double(config.metaBatchSize))
    }

    static func truncateRows(path: String, keepingBelow iteration: Int) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                let i = o["iteration"] as? Int
            else { return false }
            return i < iteration
        }
        try writeAtomically(Data(kept.map { $0 + "\n" }.joined().utf8), to: path)
    }

    func append(_ row: some Encodable, to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        var line = try e.encode(row)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) { try writeAtomically(Data(), to: path) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw FileError(path: path, errno: nil, message: "\(path): cannot open for appending")
        }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: line)
    }

    /// Runs meta-iterations until the configured count or until `shouldStop()` (checked between
    /// iterations); always leaves a checkpoint of the last finished iteration.
    public mutating func run(shouldStop: () -> Bool = { false }, report: (RunEvent) -> Void) throws {
        let total = trainer.config.metaIterations
        if let path = options.classifierPath, classifier == nil {
            let c = try ReferenceClassifier.load(path: path)
            guard c.learner.image.dims == data.imageShape && c.learner.classes == data.classes else {
                throw ConfigError(
                    message: "--classifier \(path): trained for images \(c.learner.image.dims) with "
                        + "\(c.learner.classes) classes, but the data has \(data.imageShape), \(data.classes)")
            }
            classifier = c
        }
        report(.started(iteration: trainer.state.iteration, of: total, resumed: resumed))
        let train = data.train
        let source: RealBatchSource = { n, rng in train.randomBatch(size: n, using: &rng) }
        var last: EvaluationRecord?
        var saved = -1
        func save() throws {
            try Checkpoint.save(trainer, to: checkpointPath)
            saved = trainer.state.iteration
            report(.checkpointed(path: checkpointPath))
        }
        while trainer.state.iteration < total {
            let metrics = trainer.step(realBatch: source)
            // A diverged inner loop gives a NaN or infinite meta-loss, and Adam has then written
            // NaN into the teacher. Stop before anything of this iteration reaches the disk.
            guard metrics.metaLoss.isFinite && metrics.gradientNorm.isFinite else {
                throw DivergedError(
                    iteration: metrics.iteration, metaLoss: metrics.metaLoss, gradientNorm: metrics.gradientNorm,
                    checkpoint: FileManager.default.fileExists(atPath: checkpointPath) ? checkpointPath : nil)
            }
            try append(metrics, to: metricsPath)
            report(.metaStep(metrics))
            let done = trainer.state.iteration
            if done % options.checkpointEvery == 0 || done == total || shouldStop() { try save() }
            // The real-data teacher has no data of its own to draw.
            if trainer.config.teacher != .real && (done % options.samplesEvery == 0 || done == total) {
                report(.samples(path: try writeSamples()))
                if classifier != nil { try append(try scoreSamples(), to: scoresPath) }
            }
            if done % options.evaluateEvery == 0 || (done == total && options.finalEvaluation) {
                report(.evaluating(iteration: done, fullTest: done == total))
                let record: EvaluationRecord
                do { record = try evaluate(fullTest: done == total, shouldStop: shouldStop) } catch {
                    if saved != done { try save() }
                    report(.interrupted(iteration: done))
                    return
                }
                try append(record, to: evaluationsPath)
                report(.evaluated(record))
                last = record
            }
            if shouldStop() && done < total {
                // The stop may have been asked for during the samples or the evaluation, after
                // the check above: the checkpoint must still be of this iteration.
                if saved != done { try save() }
                report(.interrupted(iteration: done))
                return
            }
        }
        report(.finished(last))
    }

    /// Trains one fresh learner on the teacher and the same learner on real data; scores both
    /// after every step on validation examples, and at the end on test examples.
    public func evaluate(fullTest: Bool = false, seed: UInt64 = 0xE7A1, shouldStop: () -> Bool = { false })
        throws(EvaluationStopped) -> EvaluationRecord
    {
        let validation = data.validation.slice(0..<min(options.evaluationExamples, data.validation.count))
        let test = fullTest ? data.test : data.test.slice(0..<min(data.test.count, options.evaluationExamples))
        let e = try evaluateTeacher(
            trainer, train: data.train, perStep: validation, final: test, learners: 1,
            realDataControl: true, seed: seed &+ UInt64(trainer.state.iteration), shouldStop: shouldStop)
        return EvaluationRecord(
            iteration: trainer.state.iteration, validationPerStep: e.gtnPerStep,
            testAccuracy: e.gtnFinal[0], realDataValidationPerStep: e.realPerStep ?? [],
            realDataTestAccuracy: e.realFinal?[0] ?? .nan, seconds: e.seconds)
    }

    /// The realism and coverage scores of the teacher's T x B images (episode 0) against as many
    /// test images, by the run's reference classifier.
    public func scoreSamples() throws -> ScoreRecord {
        let s = try SampleScores.measure(teacher: trainer, test: data.test, classifier: classifier!)
        return ScoreRecord(iteration: trainer.state.iteration, scores: s)
    }

    /// A grid of generated images: one column per class, one row per inner step (paper Fig. 2c).
    public func writeSamples() throws -> String {
        let classes = trainer.config.learner.classes
        var rows: [Float] = []
        var shape: [Int] = []
        for (images:batch, targets:_) in trainer.generatedBatches(seed: 0x5A3) {
            let per = batch.count / batch.shape[0]
            // Labels are i mod classes, so the first `classes` images are one per class, in order.
            rows += batch.scalars[0..<min(classes, batch.shape[0]) * per]
            shape = Array(batch.shape.dropFirst())
        }
        let images = Tensor(shape: [rows.count / shape.reduce(1, *)] + shape, scalars: rows)
        let path = options.directory + String(format: "/samples/iteration-%06d.png", trainer.state.iteration)
        // One row per inner step: a batch smaller than the number of classes shows its classes
        // 0 ..< B (with `classes` columns its steps would run into each other).
        let columns = min(classes, trainer.config.batchSize)
        // The generator's whole output range (tanh x 2), black to white: generated images need not
        // stay within the pixel range of real data, and clamping them to it would hide detail.
        try writeImageGrid(images, columns: columns, range: -2...2, to: path)
        return path
    }
}

/// Meta-training diverged: the meta-loss or its gradient is not finite.
public struct DivergedError: Error, CustomStringConvertible {
    public var iteration: Int
    public var metaLoss: Double
    public var gradientNorm: Double
    /// The last checkpoint written before the divergence, if any (left as it was).
    public var checkpoint: String?
    public init(iteration: Int, metaLoss: Double, gradientNorm: Double, checkpoint: String?) {
        (self.iteration, self.metaLoss, self.gradientNorm, self.checkpoint) = (
            iteration, metaLoss, gradientNorm, checkpoint
        )
    }
    public var description: String {
        "meta-iteration \(iteration + 1): the meta-loss (\(metaLoss)) or its gradient norm (\(gradientNorm)) is not "
            + "finite; the inner loop diverged. "
            + (checkpoint.map { "The last checkpoint, \($0), is intact. " } ?? "No checkpoint was written yet. ")
            + "Try a lower --inner-lr or --meta-lr, or --gradient-clip."
    }
}

/// One row of scores.jsonl: the sample scores after `iteration` meta-iterations.
public struct ScoreRecord: Codable, Sendable {
    public var iteration: Int
    public var scores: SampleScores
}
