import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNMPI
import GTNTensor
import Synchronization

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Meta-train a GTN (defaults: Fashion-MNIST from Debian's dataset-fashion-mnist, a 10-15 minute run).",
        discussion: """
            Settings are taken from the defaults, then --preset NAME, then --config FILE (JSON, keys as in config.json of \
            a run), then flags. \
            A run directory holds config.json, metrics.jsonl (one row per meta-iteration), evaluations.jsonl, \
            checkpoint.safetensors and samples/*.png. Ctrl-C stops after the current meta-iteration and saves; \
            --resume DIR continues.
            """)

    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(name: .shortAndLong, help: "Run directory to create.")
    var output: String?
    @Option(help: "Continue the run in this directory from its checkpoint.")
    var resume: String?
    @Flag(
        help: "Let -o replace the files of a directory that holds no checkpoint (a run stopped before its first one).")
    var overwrite = false
    @Option(help: "JSON configuration file.")
    var config: String?
    @Option(help: "A shipped configuration, laid over the defaults before --config and flags (see --list-presets).")
    var preset: String?
    @Flag(help: "Print the shipped presets (name, what it is, its settings) and exit.")
    var listPresets = false

    // Also under the paper's word for them, which is what a reader of the paper types first.
    @Option(name: [.customLong("iterations"), .customLong("meta-iterations")], help: "Meta-iterations.")
    var iterations: Int?
    @Option(help: "Inner steps T (learner SGD steps per meta-iteration).") var innerSteps: Int?
    @Option(help: "Generated batch size B per inner step.") var batchSize: Int?
    @Option(help: "Real batch size of the meta-loss.") var metaBatchSize: Int?
    @Option(
        help:
            .init(
                "Teacher: gtn (generator), real (real-data control), distillation (learned pixels), all of which "
                    + "meta-learn the inner lr and momentum; gan (a plain conditional GAN with the GTN's generator).")
    )
    var teacher: TeacherKind?
    @Option(
        help: "Generator targets: conditional (the requested label, one-hot) or dark_knowledge (its own soft label).")
    var generator: GeneratorKind?
    @Option(help: "Learner: \(LearnerKind.allCases.map(\.rawValue).joined(separator: ", ")).") var learner: LearnerKind?
    @Option(help: "Curriculum: \(CurriculumKind.allCases.map(\.rawValue).joined(separator: ", ")).") var curriculum:
        CurriculumKind?
    @Flag(help: "Sample learner widths at random every meta-iteration.") var randomWidths = false
    @Flag(
        help:
            .init(
                "Meta-learn each curriculum row's label (official meta_learn_labels): the generator's label input and "
                    + "the learner's target, started one-hot (gtn teacher, conditional generator, learned curriculum).")
    )
    var learnLabels = false
    @Flag(help: "Turn weight normalisation off (learner and generator).") var noWeightNorm = false
    @Option(help: "Meta (Adam) learning rate.") var metaLr: Double?
    @Option(help: "Initial inner learning rate (meta-learned per step).") var innerLr: Double?
    @Option(help: "Initial inner momentum (meta-learned per step).") var innerMomentum: Double?
    @Option(help: "Clip the meta-gradient to this L2 norm (default 10; 0: no clip).") var gradientClip: Double?
    @Option(help: "Inner steps per checkpointed block (0: no gradient checkpointing; more memory).")
    var checkpointBlock: Int?
    @Option(
        name: .customLong("replay-cache-mb"),
        help:
            .init(
                "Megabytes of convolution and matrix-product results that checkpointed blocks keep for their replay "
                    + "instead of recomputing them (same results; more is faster and takes more memory; default 1024).")
    ) var replayCacheMegabytes: Int?
    @Option(
        help:
            .init(
                "Also score the learner on real data before every K-th inner step and add it to the meta-loss (0: final "
                    + "step only).")
    ) var intermediateLosses: Int?
    @Option(
        help:
            .init(
                "How many times the final learner's loss counts in the meta-loss next to the intermediate losses "
                    + "(default 1; with intermediate losses at every step, T-1 makes it half of the objective).")
    ) var finalLossWeight: Double?
    @Option(
        help:
            .init(
                "Inner optimiser: \(InnerOptimizer.allCases.map(\.rawValue).joined(separator: ", ")) (learning rate and "
                    + "momentum meta-learned per step).")
    ) var innerOptimizer: InnerOptimizer?
    @Option(help: "Fresh learners per meta-iteration, meta-gradients averaged (official virtual_batch_size).")
    var learnersPerIteration: Int?
    @Option(
        help:
            .init(
                "GTN + GAN: add this weight times the generator's adversarial loss (one inner-loop batch per "
                    + "meta-iteration, against a discriminator trained alongside) to the meta-loss (paper Fig. 10).")
    ) var ganWeight: Double?
    @Flag(
        inversion: .prefixedNo,
        help:
            .init(
                "Start the meta-learned inner lr and momentum where plain SGD does best on real data: tune them on the "
                    + "validation split first (as gtn evaluate's control; lr grid x momentum 0.5, 0.9; T steps of B; "
                    + "fixed tuning learners, so the same start for every --seed). Default: on for a new run that "
                    + "names no --config, --inner-lr or --inner-momentum, under no preset or one that tunes ("
                    + Preset.all.map { "\($0.name): \($0.tunesInnerStart ? "yes" : "no")" }.joined(separator: ", ")
                    + "); teachers gtn, real, distillation.")
    )
    var tuneInnerInit: Bool?
    @Option(help: "Random seed.") var seed: UInt64?

    // The cadence: a new run's default is `defaultCadence`; a resumed run keeps its own unless told.
    @Option(help: .init("Evaluate a fresh learner every N meta-iterations" + Self.defaulted(\.evaluateEvery)))
    var evalEvery: Int?
    @Option(
        help:
            .init(
                "Validation/test examples per evaluation; the last one uses the full test set"
                    + Self.defaulted(\.evaluationExamples)))
    var evalExamples: Int?
    @Option(help: .init("Write a checkpoint every N meta-iterations" + Self.defaulted(\.checkpointEvery)))
    var checkpointEvery: Int?
    @Option(help: .init("Write a sample grid every N meta-iterations" + Self.defaulted(\.samplesEvery)))
    var samplesEvery: Int?

    /// " (default N; a resumed run: its own)." for one setting of the cadence.
    static func defaulted(_ setting: KeyPath<RunCadence, Int>) -> String {
        " (default \(defaultCadence[keyPath: setting]); a resumed run: its own)."
    }

    static let defaultCadence = RunCadence(25, 5, 25, 2000)

    /// The cadence of this run: the flags given, else (resuming) the run's own, else the defaults.
    func cadence(kept: RunCadence?) -> RunCadence {
        let base = kept ?? Self.defaultCadence
        return RunCadence(
            evalEvery ?? base.evaluateEvery, checkpointEvery ?? base.checkpointEvery,
            samplesEvery ?? base.samplesEvery, evalExamples ?? base.evaluationExamples)
    }
    @Option(
        help:
            .init(
                "A reference classifier (gtn classifier train): score the teacher's images for realism and coverage at "
                    + "every sample grid, into scores.jsonl."))
    var classifier: String?

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
        // Our recipe, not the official config (which sets no bound): meta-gradients of norm 100-240
        // in the first meta-iterations had thrown some runs back; clipped at 10 (typical norms are
        // 3-10), Fashion-MNIST at T = 8 gained 1.9 points over three seeds, the kept-aside digits
        // 0.1-1.0, and T = 32 (docs/NOTES.md, issue 15, 2026-12-07).
        c.gradientClip = 10
        return c
    }

    func validate() throws {
        if let v = gradientClip, !(v >= 0 && v.isFinite) {
            throw ValidationError("--gradient-clip must be a positive number, or 0 for no clip; got \(v)")
        }
        if resume != nil && tuneInnerInit == true {
            throw ValidationError(
                "--tune-inner-init chooses a new run's initial inner lr and momentum; not with --resume")
        }
        if resume != nil && (output != nil || config != nil || preset != nil) {
            throw ValidationError(
                "--resume continues a run with its own settings; do not combine it with --output, --config or --preset")
        }
        for case let (name, v?) in [
            ("--eval-every", evalEvery), ("--checkpoint-every", checkpointEvery), ("--samples-every", samplesEvery),
            ("--eval-examples", evalExamples),
        ] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
    }

    func resolvedConfig(_ data: DataSplits) throws -> GTNConfig {
        var c = Self.defaults(for: data)
        if let name = preset {
            do { c = try Preset.named(name).apply(over: c) } catch let e as ConfigError {
                throw CommandError(e.message)
            }
        }
        if let path = config {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw CommandError("--config \(path): cannot read the file")
            }
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
        if let v = curriculum { c.curriculum = v } else if teacher == .gan { c.curriculum = .none }
        if randomWidths { c.randomLearnerWidths = true }
        if learnLabels { c.learnLabels = true }
        if noWeightNorm {
            c.learner.weightNorm = false
            c.generator.weightNorm = false
        }
        if let v = metaLr { c.metaLearningRate = v }
        if let v = innerLr { c.innerLearningRate = v }
        if let v = innerMomentum { c.innerMomentum = v }
        if let v = gradientClip { c.gradientClip = v == 0 ? nil : v }
        if let v = checkpointBlock { c.checkpointBlock = v }
        if let v = replayCacheMegabytes { c.replayCacheMegabytes = v }
        if let v = intermediateLosses { c.intermediateLossEvery = v }
        if let v = finalLossWeight { c.finalLossWeight = v }
        if let v = innerOptimizer { c.innerOptimizer = v }
        if let v = learnersPerIteration { c.learnersPerIteration = v }
        if let v = ganWeight { c.gan.weight = v }
        if let v = seed { c.seed = v }
        do { try c.validate() } catch let e as ConfigError { throw CommandError(e.message) }
        return c
    }

    func run() throws {
        if listPresets {
            for p in Preset.all {
                let tuning = p.tunesInnerStart ? "\n    (tunes the initial inner lr and momentum first)" : ""
                print(
                    "\(p.name): \(p.summary)\n    \(p.json.split(separator: "\n").joined(separator: "\n    "))\(tuning)"
                )
            }
            return
        }
        guard MPICollective.isLaunchedByMPI else { return try runLeader(mpi: nil) }
        let mpi = MPICollective()
        do {
            if mpi.rank == 0 { try runLeader(mpi: mpi) } else { try runFollower(mpi) }
        } catch let code as ExitCode {
            mpi.finish()
            throw code
        } catch {
            // One rank's error ends the whole job, and says which rank it was.
            FileHandle.standardError.write(Data("gtn: rank \(mpi.rank) of \(mpi.size): \(error)\n".utf8))
            mpi.abort(1)
        }
        mpi.finish()
    }

    /// The data of this run: a resumed run's own (unless --data names other data), else --data or
    /// the default. Leader and followers load it the same way.
    func trainingData() throws -> DataSplits {
        try resume.map { try loadData(forRun: $0, explicit: data) } ?? loadData(data ?? DataSource.defaultDirectory)
    }

    /// A follower rank of `mpirun -np N gtn train`: loads the same data as the leader (so a
    /// missing directory fails before any collective call), takes the leader's teacher (its
    /// checkpoint, broadcast: same start for new and resumed runs), then computes its learners'
    /// meta-gradients each iteration until the leader ends the run. It writes and prints nothing.
    func runFollower(_ mpi: MPICollective) throws {
        let splits = try trainingData()
        Interrupt.install()  // the leader decides when to stop; a signal must not kill a follower
        let bytes = mpi.broadcast(nil)
        guard !bytes.isEmpty else { return }  // the leader has nothing to run
        var trainer = try Checkpoint.restore(SafeTensorsFile(data: bytes, source: "rank 0"), source: "rank 0's teacher")
        trainer.collective = mpi
        let train = splits.train
        while trainer.followerStep(realBatch: { n, rng in train.randomBatch(size: n, using: &rng) }) {}
    }

    func runLeader(mpi: MPICollective?) throws {
        setlinebuf(stdout)  // keep stdout lines in order with the progress lines on stderr in logs
        let directory = resume ?? output ?? "runs/gtn-\(Int(Date().timeIntervalSince1970))"
        var options = RunOptions(directory: directory)
        do {
            options.cadence = cadence(kept: try resume.flatMap { try RunCadence.load(runDirectory: $0) })
        } catch let e as ConfigError { throw CommandError(e.message) }
        options.overwrite = overwrite
        if let path = classifier {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw CommandError("--classifier \(path): cannot read the file")
            }
            options.classifierPath = path
        }
        let splits = try trainingData()
        options.dataDirectory = data ?? DataSource.defaultDirectory
        var session: TrainingSession
        if resume != nil {
            // A resumed run keeps its settings: a flag that would change what it computes is an
            // error rather than silently ignored.
            let fixed: [(String, Bool)] = [
                ("--inner-steps", innerSteps != nil), ("--batch-size", batchSize != nil),
                ("--meta-batch-size", metaBatchSize != nil),
                ("--teacher", teacher != nil), ("--generator", generator != nil), ("--learner", learner != nil),
                ("--curriculum", curriculum != nil), ("--random-widths", randomWidths), ("--learn-labels", learnLabels),
                ("--no-weight-norm", noWeightNorm),
                ("--meta-lr", metaLr != nil), ("--inner-lr", innerLr != nil),
                ("--inner-momentum", innerMomentum != nil),
                ("--gradient-clip", gradientClip != nil), ("--intermediate-losses", intermediateLosses != nil),
                ("--final-loss-weight", finalLossWeight != nil),
                ("--inner-optimizer", innerOptimizer != nil), ("--learners-per-iteration", learnersPerIteration != nil),
                ("--seed", seed != nil), ("--gan-weight", ganWeight != nil),
            ]
            let given = fixed.filter(\.1).map(\.0)
            if !given.isEmpty {
                throw CommandError(
                    "--resume continues a run with its own settings; \(given.joined(separator: ", ")) cannot change "
                        + "them (a resumed run takes --iterations, --checkpoint-block, --replay-cache-mb and a new "
                        + "--eval-every/--checkpoint-every/--samples-every/--eval-examples cadence)"
                )
            }
            session = try TrainingSession(resuming: options, data: splits)
            do {
                try session.resumeChanges(
                    iterations: iterations, checkpointBlock: checkpointBlock, replayCacheMegabytes: replayCacheMegabytes
                )
            } catch let e as ConfigError { throw CommandError(e.message) }
            if session.isComplete {
                _ = mpi?.broadcast(Data())
                print(
                    "gtn: \(directory) is complete (\(session.trainer.state.iteration) "
                        + "of \(counted(session.trainer.config.metaIterations, "meta-iteration"))); pass --iterations "
                        + "N with N > \(session.trainer.state.iteration) to extend it"
                )
                return
            }
        } else {
            var config = try resolvedConfig(splits)
            if try tunesInnerInit(config) { config = try tunedInnerInit(config, splits) }
            session = try TrainingSession(config: config, data: splits, options: options)
        }
        let c = session.trainer.config
        if mpi != nil && session.trainer.hasDiscriminator {
            // The discriminator's steps are not shared out over ranks yet.
            throw CommandError("--teacher gan and --gan-weight run in one process; mpirun is not supported for them")
        }
        print(
            "gtn: \(splits.name) (\(splits.train.count) train / \(splits.validation.count) validation "
                + "/ \(splits.test.count) test) -> \(directory)"
        )
        let source =
            c.teacher == .gtn
            ? "GTN (\(c.generator.kind.rawValue) generator, curriculum \(c.curriculum.rawValue)"
                + (c.learnLabels ? " with learned labels" : "")
                + (c.gan.weight > 0 ? ", GAN loss weight \(c.gan.weight))" : ")")
            : c.teacher == .gan
                ? "GAN (plain, conditional; the GTN's generator, DCGAN-style discriminator)"
                : c.teacher.rawValue
        print(
            "gtn: teacher \(source), learner \(c.learner.kind.rawValue), T=\(c.innerSteps), B=\(c.batchSize),"
                + " \(counted(c.metaIterations, "meta-iteration")), weight "
                + "norm \(c.learner.weightNorm ? "on" : "off"), seed \(c.seed)"
        )
        if let mpi {
            _ = mpi.broadcast(Checkpoint.encode(session.trainer).encoded())
            session.trainer.collective = mpi
            print(
                "gtn: \(mpi.size) MPI ranks x \(counted(c.learnersPerIteration, "learner")) = "
                    + "\(counted(session.trainer.totalLearners, "learner")) per meta-iteration; rank 0 writes the run")
        }
        defer { session.trainer.releaseFollowers() }
        let terminal = TerminalRun(
            command: "gtn", learnerName: "taught learner",
            continueHint: "Continue with: gtn train --resume \(directory)",
            completeHint: "Evaluate it with: gtn evaluate \(directory)")
        try terminal.run(&session) { r in
            if let r {
                print(
                    String(
                        format:
                            "gtn: done. After %@: teacher's data %.2f%% test accuracy, real data (plain SGD) %.2f%%.",
                        counted(r.validationPerStep.count, "inner step"), 100 * r.testAccuracy,
                        100 * r.realDataTestAccuracy))
            }
            print(
                "gtn: metrics in \(directory)/metrics.jsonl, evaluations in \(directory)/evaluations.jsonl, samples "
                    + "in \(directory)/samples/"
            )
        }
    }

    /// Whether a new run starts by tuning its initial inner lr and momentum (`Preset.tunesInnerStart`).
    /// Our recipe, not the official code's (which starts at lr 0.02, momentum 0.5): with the
    /// meta-gradient clip, the tuned start gained on both data sets at T = 8 (docs/NOTES.md,
    /// issue 15, 2026-12-07).
    func tunesInnerInit(_ config: GTNConfig) throws -> Bool {
        try Preset.tunesInnerStart(
            asked: tuneInnerInit, preset: preset, configFile: self.config != nil,
            startNamed: innerLr != nil || innerMomentum != nil, teacher: config.teacher)
    }

    /// The configuration with its initial inner learning rate and momentum replaced by the best
    /// plain-SGD pair on real data (validation split, the run's own learner, T steps of B): the
    /// same for every data set, so nothing is tuned by hand to one data set's quirks.
    func tunedInnerInit(_ config: GTNConfig, _ splits: DataSplits) throws -> GTNConfig {
        var c = config
        // The tuning learners and their batches come from tuneRealDataControl's own fixed seed, not
        // the run's: the start is a property of the recipe (data, T, B, learner), the same for
        // every --seed, so the seeds of one command stay one recipe for `gtn runs` (tested).
        let probe = MetaTrainer(config: c)
        let (lrs, momenta) = (RealDataTuning.defaultLearningRates, [0.5, 0.9])
        print(
            "gtn: tuning the initial inner lr and momentum on the validation split (plain SGD, T steps of B; "
                + "\(lrs.count * momenta.count) lr x momentum pairs, 2 learners each)")
        let t = try tuneRealDataControl(
            probe, train: splits.train, validation: splits.validation, learningRates: lrs, momenta: momenta,
            tuningLearners: 2, shouldStop: { Interrupt.isRequested },
            progress: tuningProgressLine(pairs: lrs.count * momenta.count))
        (c.innerLearningRate, c.innerMomentum) = (t.bestLearningRate, t.bestMomentum)
        print(
            String(
                format: "gtn: initial inner lr %g, momentum %g (validation accuracy %.2f%% with plain SGD)",
                t.bestLearningRate, t.bestMomentum,
                100 * t.validationAccuracy.flatMap { $0 }.max()!))
        return c
    }
}
