import Foundation
import GTN
import GTNData
import GTNTensor
import Testing

/// Tiny splits in the tiny configuration's format (8x8 images, 4 classes).
func tinySplits() -> DataSplits {
    var rng = RandomSource(seed: 99)
    func set(_ name: String, _ n: Int) -> Dataset {
        let (x, y) = tinyRealData(n, &rng)
        return Dataset(name: name, images: x, labels: y, classes: 4, normalization: .mnist)
    }
    return DataSplits(name: "tiny", train: set("train", 64), validation: set("validation", 32), test: set("test", 32))
}

@Suite("Training session")
struct TrainingSessionTests {
    func directory() -> String {
        NSTemporaryDirectory() + "gtn-session-\(UUID().uuidString)"
    }

    @Test("a finished run resumed with more meta-iterations continues to the new total")
    func resumeExtends() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = RunOptions(directory: dir)
        (options.evaluateEvery, options.checkpointEvery, options.samplesEvery, options.evaluationExamples) = (10, 10, 10, 16)
        var config = tinyConfig()
        config.metaIterations = 2
        var first = try TrainingSession(config: config, data: tinySplits(), options: options)
        try first.run { _ in }
        var resumed = try TrainingSession(resuming: options, data: tinySplits())
        #expect(resumed.isComplete)
        #expect(throws: ConfigError.self) { try resumed.resumeChanges(iterations: 1, checkpointBlock: nil, replayCacheMegabytes: nil) }
        try resumed.resumeChanges(iterations: 4, checkpointBlock: 1, replayCacheMegabytes: 0)
        #expect(!resumed.isComplete)
        var announced: [String] = []
        try resumed.run { event in
            switch event {
            case .evaluating(let i, let full): announced.append("evaluating \(i)\(full ? " on the whole test set" : "")")
            case .evaluated(let r): announced.append("evaluated \(r.iteration)")
            default: break
            }
        }
        // The final evaluation is announced before it runs (it takes longest).
        #expect(announced == ["evaluating 4 on the whole test set", "evaluated 4"])
        let rows = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 4)
        let saved = try JSONDecoder().decode(GTNConfig.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")))
        #expect(saved.metaIterations == 4 && saved.checkpointBlock == 1 && saved.replayCacheMegabytes == 0)
        #expect(try TrainingSession(resuming: options, data: tinySplits()).trainer.state.iteration == 4)
    }

    @Test("a run keeps its cadence in cadence.json; resuming at another cadence replaces it")
    func cadenceIsKept() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = RunOptions(directory: dir)
        options.cadence = RunCadence(3, 2, 7, 16)
        var config = tinyConfig()
        config.metaIterations = 1
        var first = try TrainingSession(config: config, data: tinySplits(), options: options)
        #expect(try RunCadence.load(runDirectory: dir) == RunCadence(3, 2, 7, 16))
        try first.run { _ in }
        options.cadence.evaluateEvery = 1
        _ = try TrainingSession(resuming: options, data: tinySplits())
        #expect(try RunCadence.load(runDirectory: dir) == RunCadence(1, 2, 7, 16))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/" + RunCadence.fileName))
        #expect(throws: ConfigError.self) { try RunCadence.load(runDirectory: dir) }
        #expect(try RunCadence.load(runDirectory: dir + "/none") == nil)
    }

    @Test("a sample grid has one row per inner step, also when the batch is smaller than the classes")
    func sampleGridRows() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = tinyConfig()  // 4 classes, T = 3, 8x8 images
        config.batchSize = 2
        let session = try TrainingSession(config: config, data: tinySplits(), options: RunOptions(directory: dir))
        let png = try #require(FileManager.default.contents(atPath: try session.writeSamples()))
        // IHDR: width and height, big-endian, at bytes 16 and 20. Tiles of 8 + 2 padding.
        let be = { (o: Int) in png[o ..< o + 4].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be(16) == 2 + 2 * (8 + 2) && be(20) == 2 + 3 * (8 + 2), "grid \(be(16)) x \(be(20))")
    }

    @Test("a directory with files but no checkpoint is not overwritten unless asked")
    func nonEmptyDirectoryIsKept() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mine = Data("{\"mine\": true}".utf8)
        try mine.write(to: URL(fileURLWithPath: dir + "/config.json"))
        var options = RunOptions(directory: dir)
        #expect(throws: ConfigError.self) { _ = try TrainingSession(config: tinyConfig(), data: tinySplits(), options: options) }
        #expect(FileManager.default.contents(atPath: dir + "/config.json") == mine)
        options.overwrite = true
        _ = try TrainingSession(config: tinyConfig(), data: tinySplits(), options: options)
        #expect(FileManager.default.contents(atPath: dir + "/config.json") != mine)
    }

    @Test("sizes the data cannot serve or memory cannot hold are refused before the run directory exists")
    func sizesAreCheckedFirst() throws {
        func refused(_ change: (inout GTNConfig) -> Void, data: DataSplits = tinySplits(), _ words: String) {
            let dir = directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var config = tinyConfig()
            change(&config)
            do {
                _ = try TrainingSession(config: config, data: data, options: RunOptions(directory: dir))
                Issue.record("accepted: \(words)")
            } catch let e as ConfigError {
                #expect(e.message.contains(words), "\(e.message)")
            } catch { Issue.record("\(error)") }
            #expect(!FileManager.default.fileExists(atPath: dir), "the run directory was created")
        }
        // The tiny training split has 64 images.
        refused({ $0.metaBatchSize = 65 }, "metaBatchSize (--meta-batch-size) 65 is larger than the training split")
        refused({ $0.teacher = .real; $0.batchSize = 100 }, "batchSize (--batch-size) 100")
        refused({ $0.batchSize = 100_000_000 }, "would need about")
        let splits = tinySplits()
        let empty = DataSplits(name: "tiny", train: splits.train.slice(0..<0), validation: splits.validation, test: splits.test)
        refused({ _ in }, data: empty, "has no training images")
        // Evaluation's own estimate: --batch-multiplier.
        #expect(throws: ConfigError.self) { try TrainingSession.checkSizes(tinyConfig(), splits, batchMultiplier: 1 << 40, evaluating: true) }
        try TrainingSession.checkSizes(tinyConfig(), splits, batchMultiplier: 4, evaluating: true)
    }

    /// A tiny run in `dir` that evaluates every `evaluateEvery` iterations (checkpoints and samples
    /// every 10), and the options to resume it with.
    func tinySession(in dir: String, evaluateEvery: Int, iterations: Int) throws -> (TrainingSession, RunOptions) {
        var options = RunOptions(directory: dir)
        (options.evaluateEvery, options.checkpointEvery, options.samplesEvery, options.evaluationExamples) =
            (evaluateEvery, 10, 10, 16)
        var config = tinyConfig()
        config.metaIterations = iterations
        return (try TrainingSession(config: config, data: tinySplits(), options: options), options)
    }

    @Test("a stop asked for during an evaluation still leaves a checkpoint of that iteration, and the run resumes from it")
    func stopDuringEvaluation() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (session, options) = try tinySession(in: dir, evaluateEvery: 2, iterations: 5)
        // Ctrl-C arrives while iteration 2 is being evaluated: after the run's checkpoint check
        // for iteration 2 (which saw no stop), before its check for a stop after the evaluation.
        var stopRequested = false
        var events: [String] = []
        try session.run(shouldStop: { stopRequested }) { event in
            switch event {
            case .evaluated(let r):
                events.append("evaluated \(r.iteration)")
                stopRequested = true
            case .interrupted(let i): events.append("interrupted \(i)")
            case .checkpointed: events.append("checkpoint")
            default: break
            }
        }
        #expect(events == ["evaluated 2", "checkpoint", "interrupted 2"])
        let saved = try Checkpoint.load(path: dir + "/checkpoint.safetensors")
        #expect(saved.state.iteration == 2)
        #expect(saved.state.parameters == session.trainer.state.parameters)
        // Resuming runs the remaining iterations.
        var resumed = try TrainingSession(resuming: options, data: tinySplits())
        try resumed.run { _ in }
        #expect(resumed.trainer.state.iteration == 5)
        let rows = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 5)
    }
}

extension TrainingSessionTests {
    @Test("a stop asked for during the final evaluation ends it early: no record of it, the complete run saved")
    func stopDuringFinalEvaluation() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (session, options) = try tinySession(in: dir, evaluateEvery: 10, iterations: 2)
        // Ctrl-C arrives as the final evaluation starts.
        var stopRequested = false
        var events: [String] = []
        try session.run(shouldStop: { stopRequested }) { event in
            switch event {
            case .evaluating(let i, let full):
                events.append("evaluating \(i)\(full ? " (final)" : "")")
                if full { stopRequested = true }
            case .evaluated(let r): events.append("evaluated \(r.iteration)")
            case .interrupted(let i): events.append("interrupted \(i)")
            case .finished: events.append("finished")
            default: break
            }
        }
        #expect(events == ["evaluating 2 (final)", "interrupted 2"])
        let evaluations = (try? String(contentsOfFile: dir + "/evaluations.jsonl", encoding: .utf8)) ?? ""
        #expect(evaluations.isEmpty)
        #expect(try Checkpoint.load(path: dir + "/checkpoint.safetensors").state.iteration == 2)
        #expect(try TrainingSession(resuming: options, data: tinySplits()).isComplete)
    }
}

@Suite("Training session: divergence")
struct DivergenceTests {
    @Test("a diverged inner loop stops the run with a clear error and leaves the last checkpoint as it was")
    func divergenceStopsTheRun() throws {
        let dir = NSTemporaryDirectory() + "gtn-diverge-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = RunOptions(directory: dir)
        (options.evaluateEvery, options.checkpointEvery, options.samplesEvery, options.evaluationExamples) = (100, 100, 100, 16)
        var config = tinyConfig()
        config.metaIterations = 3
        config.innerLearningRate = 1e30  // the learner's weights overflow at the first step
        var session = try TrainingSession(config: config, data: tinySplits(), options: options)
        #expect {
            try session.run { _ in }
        } throws: { error in
            let text = "\(error)"
            return error is DivergedError && text.contains("meta-iteration 1:") && text.contains("not finite")
                && text.contains("No checkpoint was written yet")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
        #expect(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).isEmpty)
    }
}

@Suite("Configuration values")
struct ConfigValidationTests {
    @Test("non-finite and out-of-range numbers are refused with the setting and its flag")
    func numbersAreChecked() {
        let cases: [(String, (inout GTNConfig) -> Void)] = [
            ("innerLearningRate (--inner-lr) must be a positive finite number", { $0.innerLearningRate = .infinity }),
            ("metaLearningRate (--meta-lr) must be a positive finite number", { $0.metaLearningRate = .infinity }),
            ("metaLearningRate (--meta-lr) must be a positive finite number", { $0.metaLearningRate = .nan }),
            ("gradientClip (--gradient-clip) must be a positive finite number", { $0.gradientClip = .infinity }),
            ("innerMomentum (--inner-momentum) must be in (0, 1)", { $0.innerMomentum = 5 }),
            ("innerMomentum (--inner-momentum) must be in (0, 1)", { $0.innerMomentum = 1 }),
            ("metaBeta2 must be in [0, 1)", { $0.metaBeta2 = 1 }),
            ("metaEpsilon must be a positive finite number", { $0.metaEpsilon = 0 }),
            ("metaLearningRateFinalFraction must be in [0, 1]", { $0.metaLearningRateFinalFraction = -0.5 }),
            ("metaIterations (--iterations) must not be negative", { $0.metaIterations = -1 }),
        ]
        for (words, change) in cases {
            var c = tinyConfig()
            change(&c)
            do {
                try c.validate()
                Issue.record("accepted: \(words)")
            } catch let e as ConfigError {
                #expect(e.message.contains(words), "\(e.message)")
            } catch { Issue.record("\(error)") }
        }
        #expect(throws: Never.self) { try tinyConfig().validate() }
    }
}

@Suite("Progress line")
struct ProgressLineTests {
    func line(_ width: Int) -> String {
        ProgressLine.compose(done: 37, total: 160, metaLoss: 1.2345, accuracy: 0.734, learningRate: 0.0213, momentum: 0.512,
                             secondsPerIteration: 3.7, eta: "7m36s", width: width)
    }

    @Test("fits the width, keeping the count and the ETA; all fields where there is room")
    func fitsTheTerminal() {
        let full = line(Int.max)
        for field in ["37/160", "meta-loss 1.2345", "acc  73.4%", "inner lr 0.0213", "mom 0.512", "3.7 s/it", "ETA 7m36s", "[#####"] {
            #expect(full.contains(field), "\(full)")
        }
        for width in [100, 79, 60, 40, 25] {
            let l = line(width)
            #expect(l.count <= width, "\(width): \(l)")
            #expect(l.contains("37/160") && l.contains("ETA 7m36s"), "\(width): \(l)")
        }
        #expect(line(79).contains("meta-loss"), "\(line(79))")
        #expect(!line(60).contains("mom"), "\(line(60))")
    }
}

@Suite("Data record")
struct DataRecordTests {
    @Test("a new run records its data; the fingerprint tells data sets apart")
    func runRecordsItsData() throws {
        let dir = NSTemporaryDirectory() + "gtn-data-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = RunOptions(directory: dir)
        options.dataDirectory = "/some/where/../data"
        let splits = tinySplits()
        _ = try TrainingSession(config: tinyConfig(), data: splits, options: options)
        let record = try #require(try DataRecord.load(runDirectory: dir))
        #expect(record == DataRecord(path: "/some/data", splits: splits))
        #expect(record.path == "/some/data" && record.counts == [64, 32, 32] && record.classes == 4)
        // Same shapes and sizes, other images: another fingerprint.
        var rng = RandomSource(seed: 7)
        let (x, y) = tinyRealData(64, &rng)
        let other = DataSplits(name: "tiny", train: Dataset(name: "train", images: x, labels: y, classes: 4, normalization: .mnist),
                               validation: splits.validation, test: splits.test)
        #expect(DataRecord(path: "/some/data", splits: other).fingerprint != record.fingerprint)
        #expect(try DataRecord.load(runDirectory: dir + "-none") == nil)
    }
}
