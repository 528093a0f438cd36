import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNTensor
import Synchronization

@main
struct GTNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gtn",
        abstract: "Generative Teaching Networks: meta-train a generator of synthetic training data.",
        version: "gtn \(GTNVersion.string)",
        subcommands: [Train.self, Evaluate.self, Report.self, NAS.self, Export.self, Runs.self])
}

/// A problem with what a command was given (a file, a directory, a run, the data) found while it
/// runs, printed as "Error: ..." and nothing else. A ValidationError thrown from `run()` would
/// make ArgumentParser print the root command's usage ("Usage: gtn <subcommand>") beneath it,
/// which says nothing about the flag at fault; `validate()` keeps ValidationError, where the
/// usage of the subcommand is the right thing to show.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Ctrl-C (SIGINT) or SIGTERM (what batch schedulers send) asks the run to stop after the current
/// meta-iteration (a checkpoint is then written); a second signal exits at once (the previous
/// checkpoint is intact: writes are atomic). A stopped run exits with 128 + the signal's number
/// (130, 143), as a shell reports a process ended by that signal.
enum Interrupt {
    static let requested = Atomic<Int>(0)
    /// The signal that asked for the stop, 0 if none did.
    static let signalNumber = Atomic<Int32>(0)
    static func install() {
        for s in [SIGINT, SIGTERM] {
            signal(s) { sig in
                _ = Interrupt.signalNumber.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
                if Interrupt.requested.add(1, ordering: .relaxed).newValue >= 2 { _exit(128 + sig) }
                let msg = "\ngtn: stopping at the end of this meta-iteration, or of the evaluation under way (signal again to quit now)\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
            }
        }
    }
    static var isRequested: Bool { requested.load(ordering: .relaxed) > 0 }
    /// 130 after SIGINT, 143 after SIGTERM.
    static var exitCode: ExitCode { ExitCode(128 + signalNumber.load(ordering: .relaxed)) }
}

func loadData(_ directory: String) throws -> DataSplits {
    do { return try DataSource.load(directory: directory) } catch let e as DataError {
        throw CommandError("--data \(directory): \(e)")
    }
}

/// The data of an existing run: the data set it recorded (data.json), unless `--data` names
/// another. Given data that is not the run's is used with a warning that says so; recorded data
/// that has changed on disk since is refused (a result on other data would look like the run's).
func loadData(forRun directory: String, explicit: String?) throws -> DataSplits {
    let recorded: DataRecord?
    do { recorded = try DataRecord.load(runDirectory: directory) } catch let e as ConfigError { throw CommandError(e.message) }
    let path = explicit ?? recorded?.path ?? DataSource.defaultDirectory
    let splits = try loadData(path)
    guard let recorded else { return splits }
    let now = DataRecord(path: path, splits: splits)
    if now.fingerprint != recorded.fingerprint {
        guard explicit != nil else {
            throw CommandError("the data this run was trained on has changed: \(directory)/\(DataRecord.fileName) records \(recorded.summary), fingerprint \(recorded.fingerprint); the directory now holds \(now.summary), fingerprint \(now.fingerprint). Pass --data to use other data on purpose")
        }
        let msg = "gtn: warning: --data \(now.summary) is not the data set this run was trained on (\(recorded.summary)); the figures are for the data given\n"
        FileHandle.standardError.write(Data(msg.utf8))
    }
    return splits
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train a GTN (defaults: Fashion-MNIST from Debian's dataset-fashion-mnist, a 10-15 minute run).",
        discussion: """
        Settings are taken from the defaults, then --config FILE (JSON, keys as in config.json of a run), then flags.
        A run directory holds config.json, metrics.jsonl (one row per meta-iteration), evaluations.jsonl,
        checkpoint.safetensors and samples/*.png. Ctrl-C stops after the current meta-iteration and saves;
        --resume DIR continues.
        """)

    @Option(help: "Data directory (IDX files, plain or .gz, or CIFAR-10 binary batches; default \(DataSource.defaultDirectory), or, with --resume, the run's own).")
    var data: String?
    @Option(name: .shortAndLong, help: "Run directory to create.")
    var output: String?
    @Option(help: "Continue the run in this directory from its checkpoint.")
    var resume: String?
    @Flag(help: "Let -o replace the files of a directory that holds no checkpoint (a run stopped before its first one).")
    var overwrite = false
    @Option(help: "JSON configuration file.")
    var config: String?

    @Option(help: "Meta-iterations.") var iterations: Int?
    @Option(help: "Inner steps T (learner SGD steps per meta-iteration).") var innerSteps: Int?
    @Option(help: "Generated batch size B per inner step.") var batchSize: Int?
    @Option(help: "Real batch size of the meta-loss.") var metaBatchSize: Int?
    @Option(help: "Teacher: gtn (generator), real (real-data control), distillation (learned pixels); all meta-learn the inner lr and momentum.")
    var teacher: TeacherKind?
    @Option(help: "Generator targets: conditional (the requested label, one-hot) or dark_knowledge (its own soft label).")
    var generator: GeneratorKind?
    @Option(help: "Learner: \(LearnerKind.allCases.map(\.rawValue).joined(separator: ", ")).") var learner: LearnerKind?
    @Option(help: "Curriculum: \(CurriculumKind.allCases.map(\.rawValue).joined(separator: ", ")).") var curriculum: CurriculumKind?
    @Flag(help: "Sample learner widths at random every meta-iteration.") var randomWidths = false
    @Flag(help: "Turn weight normalisation off (learner and generator).") var noWeightNorm = false
    @Option(help: "Meta (Adam) learning rate.") var metaLr: Double?
    @Option(help: "Initial inner learning rate (meta-learned per step).") var innerLr: Double?
    @Option(help: "Initial inner momentum (meta-learned per step).") var innerMomentum: Double?
    @Option(help: "Clip the meta-gradient to this L2 norm.") var gradientClip: Double?
    @Option(help: "Inner steps per checkpointed block (0: no gradient checkpointing; more memory).") var checkpointBlock: Int?
    @Option(name: .customLong("replay-cache-mb"), help: "Megabytes of convolution and matrix-product results that checkpointed blocks keep for their replay instead of recomputing them (same results; more is faster and takes more memory; default 512).") var replayCacheMegabytes: Int?
    @Option(help: "Also score the learner on real data before every K-th inner step and add it to the meta-loss (0: final step only).") var intermediateLosses: Int?
    @Option(help: "Inner optimiser: \(InnerOptimizer.allCases.map(\.rawValue).joined(separator: ", ")) (learning rate and momentum meta-learned per step).") var innerOptimizer: InnerOptimizer?
    @Option(help: "Fresh learners per meta-iteration, meta-gradients averaged (official virtual_batch_size).") var learnersPerIteration: Int?
    @Option(help: "Random seed.") var seed: UInt64?

    @Option(help: "Evaluate a fresh learner every N meta-iterations.") var evalEvery = 25
    @Option(help: "Validation/test examples per evaluation (the last one uses the full test set).") var evalExamples = 2000
    @Option(help: "Write a checkpoint every N meta-iterations.") var checkpointEvery = 5
    @Option(help: "Write a sample grid every N meta-iterations.") var samplesEvery = 25

    /// The main job's defaults: the official MNIST architecture with fewer inner steps and
    /// meta-iterations, sized to finish in about 20 minutes on a 2-core machine.
    static func defaults(for data: DataSplits) -> GTNConfig {
        var c = GTNConfig()
        let shape = data.imageShape
        let image = ImageShape(channels: shape[0], height: shape[1], width: shape[2])
        c.generator.image = image
        c.generator.classes = data.classes
        c.learner = LearnerConfig(kind: .baseFC, image: image, classes: data.classes)
        c.innerSteps = 8
        c.metaIterations = 160
        // As the official MNIST experiment: the learner is also scored on real data before every
        // inner step (measured here: 69.8% after 40 meta-iterations with, 61.5% after 30 without).
        c.intermediateLossEvery = 1
        return c
    }

    func validate() throws {
        if resume != nil && (output != nil || config != nil) {
            throw ValidationError("--resume continues a run with its own settings; do not combine it with --output or --config")
        }
        for (name, v) in [("--eval-every", evalEvery), ("--checkpoint-every", checkpointEvery), ("--samples-every", samplesEvery), ("--eval-examples", evalExamples)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
    }

    func resolvedConfig(_ data: DataSplits) throws -> GTNConfig {
        var c = Self.defaults(for: data)
        if let path = config {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw CommandError("--config \(path): cannot read the file") }
            do { c = try GTNConfig.decode(file: bytes, over: c) } catch let e as ConfigError {
                throw CommandError("--config \(path): \(e.message)")
            }
        }
        if let v = iterations { c.metaIterations = v }
        if let v = innerSteps { c.innerSteps = v }
        if let v = batchSize { c.batchSize = v }
        if let v = metaBatchSize { c.metaBatchSize = v }
        if let v = teacher { c.teacher = v }
        if let v = generator { c.generator.kind = v }
        if let v = learner { c.learner.kind = v }
        if let v = curriculum { c.curriculum = v }
        if randomWidths { c.randomLearnerWidths = true }
        if noWeightNorm { c.learner.weightNorm = false; c.generator.weightNorm = false }
        if let v = metaLr { c.metaLearningRate = v }
        if let v = innerLr { c.innerLearningRate = v }
        if let v = innerMomentum { c.innerMomentum = v }
        if let v = gradientClip { c.gradientClip = v }
        if let v = checkpointBlock { c.checkpointBlock = v }
        if let v = replayCacheMegabytes { c.replayCacheMegabytes = v }
        if let v = intermediateLosses { c.intermediateLossEvery = v }
        if let v = innerOptimizer { c.innerOptimizer = v }
        if let v = learnersPerIteration { c.learnersPerIteration = v }
        if let v = seed { c.seed = v }
        do { try c.validate() } catch let e as ConfigError { throw CommandError(e.message) }
        return c
    }

    func run() throws {
        setlinebuf(stdout)  // keep stdout lines in order with the progress lines on stderr in logs
        let directory = resume ?? output ?? "runs/gtn-\(Int(Date().timeIntervalSince1970))"
        var options = RunOptions(directory: directory)
        (options.evaluateEvery, options.checkpointEvery, options.samplesEvery, options.evaluationExamples) =
            (evalEvery, checkpointEvery, samplesEvery, evalExamples)
        options.overwrite = overwrite
        let splits = try resume.map { try loadData(forRun: $0, explicit: data) } ?? loadData(data ?? DataSource.defaultDirectory)
        options.dataDirectory = data ?? DataSource.defaultDirectory
        var session: TrainingSession
        if resume != nil {
            // A resumed run keeps its settings: a flag that would change what it computes is an
            // error rather than silently ignored.
            let fixed: [(String, Bool)] = [
                ("--inner-steps", innerSteps != nil), ("--batch-size", batchSize != nil), ("--meta-batch-size", metaBatchSize != nil),
                ("--teacher", teacher != nil), ("--generator", generator != nil), ("--learner", learner != nil),
                ("--curriculum", curriculum != nil), ("--random-widths", randomWidths), ("--no-weight-norm", noWeightNorm),
                ("--meta-lr", metaLr != nil), ("--inner-lr", innerLr != nil), ("--inner-momentum", innerMomentum != nil),
                ("--gradient-clip", gradientClip != nil), ("--intermediate-losses", intermediateLosses != nil),
                ("--inner-optimizer", innerOptimizer != nil), ("--learners-per-iteration", learnersPerIteration != nil),
                ("--seed", seed != nil),
            ]
            let given = fixed.filter(\.1).map(\.0)
            if !given.isEmpty {
                throw CommandError("--resume continues a run with its own settings; \(given.joined(separator: ", ")) cannot change them (a resumed run takes --iterations, --checkpoint-block, --replay-cache-mb and the --eval-every/--checkpoint-every/--samples-every/--eval-examples cadence)")
            }
            session = try TrainingSession(resuming: options, data: splits)
            do {
                try session.resumeChanges(iterations: iterations, checkpointBlock: checkpointBlock, replayCacheMegabytes: replayCacheMegabytes)
            } catch let e as ConfigError { throw CommandError(e.message) }
            if session.isComplete {
                print("gtn: \(directory) is complete (\(session.trainer.state.iteration) of \(counted(session.trainer.config.metaIterations, "meta-iteration"))); pass --iterations N with N > \(session.trainer.state.iteration) to extend it")
                return
            }
        } else {
            session = try TrainingSession(config: try resolvedConfig(splits), data: splits, options: options)
        }
        let c = session.trainer.config
        print("gtn: \(splits.name) (\(splits.train.count) train / \(splits.validation.count) validation / \(splits.test.count) test) -> \(directory)")
        let source = c.teacher == .gtn ? "GTN (\(c.generator.kind.rawValue) generator, curriculum \(c.curriculum.rawValue))" : c.teacher.rawValue
        print("gtn: teacher \(source), learner \(c.learner.kind.rawValue), T=\(c.innerSteps), B=\(c.batchSize), \(counted(c.metaIterations, "meta-iteration")), weight norm \(c.learner.weightNorm ? "on" : "off"), seed \(c.seed)")
        Interrupt.install()
        var bar = ProgressBar(total: c.metaIterations)
        var stopped = false
        try session.run(shouldStop: { Interrupt.isRequested }) { event in
            switch event {
            case .started(let i, let n, let resumed):
                bar.start(at: i)
                if resumed { print("gtn: resuming at meta-iteration \(i) of \(n)") }
            case .metaStep(let m): bar.update(m)
            case .evaluated(let r):
                bar.log(String(format: "eval @%d: taught learner %.2f%% test (%@), real-data control %.2f%%  [%.0f s]",
                               r.iteration, 100 * r.testAccuracy, counted(r.validationPerStep.count, "step"), 100 * r.realDataTestAccuracy, r.seconds))
            case .checkpointed: break
            case .evaluating(_, let fullTest): if fullTest { bar.log("evaluating a fresh learner on the whole test set...") }
            case .samples(let path): bar.log("samples: \(path)")
            case .interrupted(let i):
                if i == c.metaIterations {
                    bar.log("stopped during the final evaluation; the run is complete and saved. Evaluate it with: gtn evaluate \(directory)")
                } else {
                    bar.log("stopped after meta-iteration \(i); checkpoint saved. Continue with: gtn train --resume \(directory)")
                }
                stopped = true
            case .finished(let r):
                bar.finish()
                if let r {
                    print(String(format: "gtn: done. After %@: teacher's data %.2f%% test accuracy, real data (plain SGD) %.2f%%.",
                                 counted(r.validationPerStep.count, "inner step"), 100 * r.testAccuracy, 100 * r.realDataTestAccuracy))
                }
                print("gtn: metrics in \(directory)/metrics.jsonl, evaluations in \(directory)/evaluations.jsonl, samples in \(directory)/samples/")
            }
        }
        if stopped { throw Interrupt.exitCode }
    }
}

extension LearnerKind: ExpressibleByArgument {}
extension TeacherKind: ExpressibleByArgument {}
extension GeneratorKind: ExpressibleByArgument {}
extension CurriculumKind: ExpressibleByArgument {}
extension InnerOptimizer: ExpressibleByArgument {}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train fresh learners on a trained teacher; report test accuracy per inner step, mean and ensemble.",
        discussion: """
        Writes the figures to evaluate.json next to the checkpoint (`gtn report` charts them).
        --steps beyond the T meta-trained for repeat the learned curriculum and inner schedule (step t uses
        those of t mod T); --batch-multiplier K trains on K*B examples a step (the learned noise plus fresh
        noise); together they give the paper's Fig. 5. The ensemble figure of Fig. 7 is the accuracy of the
        averaged predictions of the first k learners, k = 1...--learners.
        """)

    @Argument(help: "A checkpoint.safetensors file, or a run directory holding one.")
    var checkpoint: String
    @Option(help: "Data directory (default: the one the run was trained on).") var data: String?
    @Option(help: "Fresh learners to train.") var learners = 5
    @Option(help: "Inner steps to train each learner for (default: the T it was meta-trained for).") var steps: Int?
    @Option(help: "Examples per step, as a multiple of the meta-trained batch size B.") var batchMultiplier = 1
    @Option(help: "Test examples to score after every step (the final step always uses the full test set).") var stepExamples = 2000
    @Flag(help: "Also train each fresh learner on real data (initial inner lr and momentum, same steps and batch) and report it alongside.")
    var realDataControl = false
    @Option(help: "Where to write the figures (default: evaluate.json next to the checkpoint).") var output: String?

    func validate() throws {
        if learners < 1 { throw ValidationError("--learners must be at least 1, got \(learners)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchMultiplier < 1 { throw ValidationError("--batch-multiplier must be at least 1, got \(batchMultiplier)") }
        if stepExamples < 1 { throw ValidationError("--step-examples must be at least 1, got \(stepExamples)") }
    }

    func run() throws {
        let path = checkpointPath(checkpoint)
        let trainer = try Checkpoint.load(path: path)
        let c = trainer.config
        if c.teacher == .distillation && batchMultiplier > 1 {
            throw CommandError("--batch-multiplier: a dataset-distillation teacher has exactly B = \(c.batchSize) images per step")
        }
        // Where the figures go is checked before any learner trains.
        let out = output ?? (URL(fileURLWithPath: path).deletingLastPathComponent().path + "/evaluate.json")
        let outDirectory = URL(fileURLWithPath: out).deletingLastPathComponent().path
        var outIsDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &outIsDirectory), outIsDirectory.boolValue {
            throw CommandError("--output \(out): is a directory; name the file to write")
        }
        guard FileManager.default.fileExists(atPath: outDirectory, isDirectory: &outIsDirectory), outIsDirectory.boolValue,
              access(outDirectory, W_OK) == 0 else {
            throw CommandError("--output \(out): the directory \(outDirectory) does not exist or is not writable")
        }
        let splits = try loadData(forRun: URL(fileURLWithPath: path).deletingLastPathComponent().path, explicit: data)
        do { try TrainingSession.checkSizes(c, splits, batchMultiplier: batchMultiplier, evaluating: true) } catch let e as ConfigError {
            throw CommandError(e.message)
        }
        let stepSet = splits.test.slice(0..<min(stepExamples, splits.test.count))
        let n = steps ?? c.innerSteps
        print("gtn evaluate: \(path) (\(c.teacher.rawValue) teacher, meta-iteration \(trainer.state.iteration)), \(counted(learners, "learner")), \(counted(n, "step")) of \(c.batchSize * batchMultiplier) examples (meta-trained: T=\(c.innerSteps), B=\(c.batchSize)), \(splits.name)")
        let e = try evaluateTeacher(trainer, train: splits.train, perStep: stepSet, final: splits.test, learners: learners,
                                steps: n, batchMultiplier: batchMultiplier, realDataControl: realDataControl) { k, taught, real in
            var line = String(format: "learner %d: %.2f%% test accuracy after %@ on %@ data", k, 100 * taught, counted(n, "step"), c.teacher == .gtn ? "GTN" : c.teacher.rawValue)
            if let real { line += String(format: ", %.2f%% on real data", 100 * real) }
            print(line)
        }
        func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }
        func sd(_ xs: [Double]) -> Double {
            let m = mean(xs)
            return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(1, xs.count - 1))).squareRoot()
        }
        print("step  mean accuracy on \(stepSet.count) test examples: teacher" + (realDataControl ? " | real data" : ""))
        for t in 0..<n {
            var line = String(format: "%4d  %6.2f%%", t + 1, 100 * e.gtnPerStep[t])
            if let r = e.realPerStep { line += String(format: " | %6.2f%%", 100 * r[t]) }
            print(line + (t + 1 == c.innerSteps && n != c.innerSteps ? "   <- T meta-trained for" : ""))
        }
        print(String(format: "teacher: mean %.2f%% (sd %.2f) over %@; ensemble of all %d: %.2f%%", 100 * mean(e.gtnFinal),
                     100 * sd(e.gtnFinal), counted(learners, "learner"), learners, 100 * e.ensembleBySize.last!))
        if let r = e.realFinal {
            print(String(format: "real data (%@, lr %g, momentum %g): mean %.2f%% (sd %.2f)", counted(n, "SGD step"),
                         c.innerLearningRate, c.innerMomentum, 100 * mean(r), 100 * sd(r)))
        }
        try writeAtomically(JSONEncoder.sorted.encode(e), to: out)
        print("gtn evaluate: figures in \(out)")
    }
}
