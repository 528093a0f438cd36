import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNNAS
import GTNTensor

extension CellNetworkHead: ExpressibleByArgument {}

enum NASSearchKind: String, CaseIterable, ExpressibleByArgument {
    case random, evolution
}

struct NAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nas",
        abstract:
            "GTN-NAS: rank cell architectures with a trained GTN (a few steps on its data) against real training.",
        discussion: """
            Correlation study (default): samples --architectures cell networks, scores each with the GTN proxy (a fresh \
            learner trained for the teacher's T steps on its data with its learned learning rates and momenta) and with \
            real training (--real-steps SGD steps on real data), both on the first --validation-examples validation \
            images; writes OUT_DIR/results.csv, report.html (with a scatter plot) and summary.json, and prints the \
            Spearman rank correlation (over all and over the proxy's top half), the top-10% overlap and the speed-up.

            Search (--search random|evolution): proposes --budget architectures scored by the proxy only (regularised \
            evolution: population --population, sample --sample-size), then trains the proxy's --top-k on real data; \
            writes OUT_DIR/search.csv and OUT_DIR/top-k.csv.

            The teacher: --gtn, a GTN meta-trained by `gtn train` on one learner (e.g. base_fc);\
             or --train-gtn N, which \
            first meta-trains a GTN for N meta-iterations on learners drawn at random from this search space (first \
            --train-warmup W meta-iterations, by default N/2, on one architecture, then a new architecture every \
            meta-iteration, or one of --train-pool K fixed ones), in OUT_DIR/gtn.

            Results are cached by genome in OUT_DIR/proxy-cache.jsonl and real-cache.jsonl: rerun an interrupted \
            command to resume it. --measure only times the learners and one evaluation of each kind, and estimates \
            the study's duration (to choose --real-steps).
            """)

    @Option(help: "The trained GTN: a checkpoint.safetensors file or a run directory holding one.")
    var gtn: String?
    @Option(
        help: ArgumentHelp(
            "Instead of --gtn: meta-train a GTN for N meta-iterations on learners drawn at random from the search "
                + "space (one architecture per meta-iteration, after a warm-up on one: --train-warmup; the main job's other "
                + "defaults), in OUT_DIR/gtn, then "
                + "use it. Resumes OUT_DIR/gtn if it is there (a larger N extends it).",
            valueName: "N"))
    var trainGtn: Int?
    @Option(
        help:
            "With --train-gtn: the initial inner learning rate (meta-learned per step; default 0.05, the main job's is 0.02)."
    )
    var trainInnerLr: Double?
    @Option(
        help: ArgumentHelp(
            "With --train-gtn: the teacher's inner steps T, i.e. the proxy's default length (default 8, the main job's; "
                + "the paper's CIFAR teacher: 128). A longer proxy sees more of training, at T times a step's cost.",
            valueName: "T"))
    var trainSteps: Int?
    @Option(
        help:
            "With --train-gtn: architectures per meta-iteration, their meta-gradients averaged (default 1)."
    )
    var trainLearners: Int?
    @Option(
        help: ArgumentHelp(
            "With --train-gtn: clip the meta-gradient to this L2 norm (a sampled network that diverges in its inner "
                + "steps sends a spike of 10-100x the usual norm; default 3).",
            valueName: "NORM"))
    var trainGradientClip: Double?
    @Option(
        help: ArgumentHelp(
            "With --train-gtn: draw each meta-iteration's architecture from K fixed ones, sampled once from the seed, "
                + "instead of a new one every meta-iteration (default 0: a new one; kept in OUT_DIR/gtn/architectures.json).",
            valueName: "K"))
    var trainPool: Int?
    @Option(
        help: ArgumentHelp(
            "With --train-gtn: train the first W meta-iterations on one architecture (the pool's first, or one drawn "
                + "from the seed), then go on to the pool or a new one each time (a GTN started on many "
                + "architectures at once stays at chance; default: half of N; 0: none).",
            valueName: "W"))
    var trainWarmup: Int?
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String?

    @Option(help: "Correlation study: architectures to sample and score with both evaluators.")
    var architectures = 100
    @Option(help: "Search with the proxy instead: random or evolution.")
    var search: NASSearchKind?
    @Option(help: "Search: architectures to score with the proxy.")
    var budget = 100
    @Option(help: "Search: the proxy's best K are then trained on real data.")
    var topK = 5
    @Option(help: "Evolution: population size.")
    var population = 20
    @Option(help: "Evolution: members sampled per tournament.")
    var sampleSize = 5

    @Option(help: "Real training: SGD steps (default 80).")
    var realSteps: Int?
    @Option(
        help:
            .init(
                "Real training: whole epochs of the training split instead of --real-steps, the learning rate "
                    + "cosine-annealed over all of them (the paper's true score is a full training)."))
    var realEpochs: Int?
    @Option(help: "Real training: batch size.")
    var realBatchSize = 64
    @Option(help: "Real training: initial learning rate (cosine-annealed to 0).")
    var realLr = 0.05
    @Option(help: "Real training: momentum.")
    var realMomentum = 0.9
    @Option(help: "GTN proxy: inner steps (default: the T the GTN was meta-trained for; more repeat its curriculum).")
    var proxySteps: Int?
    @Option(help: "GTN proxy: learners (initialisations) averaged per architecture.")
    var proxyLearners = 1
    @Option(help: "Validation examples both evaluators score on.")
    var validationExamples = 2000
    @Option(
        help:
            .init(
                "GTN proxy and its real-data baseline: score on the first N validation images instead (default: "
                    + "--validation-examples). Measured: an 8-step proxy's time is mostly its training, so this saves "
                    + "less than the image count suggests (docs/NOTES.md)."))
    var proxyValidationExamples: Int?

    @Option(help: "Cell nodes (each sums two (input, op) edges).")
    var nodes = 4
    @Option(help: "Channels of the stem and first stage (doubled at each of the two reductions).")
    var channels = 16
    @Option(help: "Cells per stage.")
    var cellsPerStage = 1
    @Option(help: "Stride of the stem convolution (2: the first stage runs at half resolution, about 3x cheaper).")
    var stemStride = 2
    @Option(help: "Classifier head: flatten (as base_fc; learns within a few GTN steps) or global_pool.")
    var head = CellNetworkHead.flatten
    @Option(help: "Random seed (architectures, learner initialisations, real batches, evolution).")
    var seed: UInt64 = 0
    @Option(
        help: ArgumentHelp(
            "Real training only: the learner's initialisation and batch order (default: --seed). A second study "
                + "of the same architectures with another value measures how well the true score repeats itself, "
                + "the ceiling of any proxy's correlation.",
            valueName: "S"))
    var realSeed: UInt64?
    @Option(
        help: ArgumentHelp(
            "Real training: the true score is the mean of K trainings with seeds S, S+1, ..., S+K-1 (S: "
                + "--real-seed); each is cached, so K = 2 reuses a K = 1 study's trainings. One training's seed "
                + "noise is as large as the spread of the better half of the architectures.",
            valueName: "K"))
    var realSeeds = 1
    @Flag(help: "Only time the learners (forward + backward) and one evaluation of each kind, then exit.")
    var measure = false

    func validate() throws {
        for (name, v, least) in [
            ("--architectures", architectures, 2), ("--budget", budget, 1), ("--top-k", topK, 0),
            ("--population", population, 1), ("--sample-size", sampleSize, 1), ("--real-steps", realSteps ?? 1, 1),
            ("--real-epochs", realEpochs ?? 1, 1), ("--real-seeds", realSeeds, 1),
            ("--real-batch-size", realBatchSize, 1), ("--proxy-learners", proxyLearners, 1),
            ("--validation-examples", validationExamples, 1),
            ("--proxy-validation-examples", proxyValidationExamples ?? 1, 1), ("--nodes", nodes, 1),
            ("--channels", channels, 1), ("--cells-per-stage", cellsPerStage, 1), ("--stem-stride", stemStride, 1),
        ] where v < least {
            throw ValidationError("\(name) must be at least \(least), got \(v)")
        }
        if realSteps != nil && realEpochs != nil {
            throw ValidationError("give --real-steps or --real-epochs, not both")
        }
        if let p = proxySteps, p < 1 { throw ValidationError("--proxy-steps must be at least 1, got \(p)") }
        if !(realLr > 0) { throw ValidationError("--real-lr must be positive, got \(realLr)") }
        if !(realMomentum >= 0 && realMomentum < 1) {
            throw ValidationError("--real-momentum must be in [0, 1), got \(realMomentum)")
        }
        if output == nil && !measure { throw ValidationError("give an output directory with -o/--output") }
        switch (gtn, trainGtn) {
        case (nil, nil):
            throw ValidationError(
                "give the teacher: --gtn CHECKPOINT, or --train-gtn N to meta-train one on the search space")
        case (.some, .some): throw ValidationError("--gtn and --train-gtn are alternatives; give one")
        case (nil, .some(let n)) where n < 1: throw ValidationError("--train-gtn must be at least 1, got \(n)")
        case (nil, .some) where output == nil:
            throw ValidationError("--train-gtn needs an output directory (-o) for the GTN's run")
        case (.some, _) where trainInnerLr != nil: throw ValidationError("--train-inner-lr applies to --train-gtn only")
        case (.some, _) where trainSteps != nil: throw ValidationError("--train-steps applies to --train-gtn only")
        case (nil, .some) where (trainSteps ?? 1) < 1:
            throw ValidationError("--train-steps must be at least 1, got \(trainSteps!)")
        case (.some, _) where trainLearners != nil:
            throw ValidationError("--train-learners applies to --train-gtn only")
        case (nil, .some) where (trainLearners ?? 1) < 1:
            throw ValidationError("--train-learners must be at least 1, got \(trainLearners!)")
        case (.some, _) where trainGradientClip != nil:
            throw ValidationError("--train-gradient-clip applies to --train-gtn only")
        case (.some, _) where trainPool != nil: throw ValidationError("--train-pool applies to --train-gtn only")
        case (.some, _) where trainWarmup != nil: throw ValidationError("--train-warmup applies to --train-gtn only")
        case (nil, .some) where (trainWarmup ?? 0) < 0:
            throw ValidationError("--train-warmup must be 0 (none) or more meta-iterations, got \(trainWarmup!)")
        case (nil, .some) where trainGradientClip.map { !($0 > 0 && $0.isFinite) } ?? false:
            throw ValidationError("--train-gradient-clip must be a positive number, got \(trainGradientClip!)")
        case (nil, .some) where (trainPool ?? 0) < 0:
            throw ValidationError("--train-pool must be 0 (a new architecture each time) or more, got \(trainPool!)")
        default: break
        }
    }

    /// Meta-trains (or resumes) a GTN on random architectures of `space` in `directory`; returns
    /// the checkpoint's path.
    func trainTeacher(space: CellSearchSpace, splits: DataSplits, iterations: Int, directory: String) throws -> String {
        var options = RunOptions(directory: directory)
        (options.evaluateEvery, options.samplesEvery, options.checkpointEvery) = (
            max(1, iterations / 4), max(1, iterations / 4), 5
        )
        options.overwrite = true  // OUT/gtn is this command's own run directory
        options.dataDirectory = data ?? DataSource.defaultDirectory
        var session: TrainingSession
        let resuming = FileManager.default.fileExists(atPath: directory + "/checkpoint.safetensors")
        if resuming {
            session = try TrainingSession(resuming: options, data: splits)
            if let t = trainSteps, t != session.trainer.config.innerSteps {
                throw CommandError(
                    "--train-steps \(t): \(directory) holds a teacher meta-trained with T=\(session.trainer.config.innerSteps); "
                        + "give that T or another output directory")
            }
            // A larger N extends the teacher (e.g. after a first stage on a smaller --train-pool).
            do {
                try session.resumeChanges(iterations: iterations, checkpointBlock: nil, replayCacheMegabytes: nil)
            } catch {
                throw CommandError("--train-gtn \(iterations): \(error)")
            }
        } else {
            var c = Train.defaults(for: splits)
            c.metaIterations = iterations
            c.seed = seed
            c.innerLearningRate = trainInnerLr ?? NASTeacherDefaults.innerLearningRate
            c.gradientClip = trainGradientClip ?? NASTeacherDefaults.gradientClip
            if let k = trainLearners { c.learnersPerIteration = k }
            if let t = trainSteps { c.innerSteps = t }
            // gtn nas has no --meta-batch-size: say what the teacher needs in this command's terms.
            guard splits.train.count >= c.metaBatchSize else {
                throw CommandError(
                    "--train-gtn: \(splits.name) has \(splits.train.count) training images, fewer than the NAS "
                        + "teacher's meta-batch of \(c.metaBatchSize) real images (the main job's); use a larger data set"
                )
            }
            session = try TrainingSession(config: c, data: splits, options: options)
        }
        let schedulePath = directory + "/" + TeacherSchedule.fileName
        let schedule: TeacherSchedule
        do {
            schedule = try TeacherSchedule.resolve(
                directory: directory, resuming: resuming, iterations: iterations, pool: trainPool,
                warmup: trainWarmup)
        } catch let e as ConfigError {
            throw CommandError(e.message)  // names the file
        } catch {
            throw CommandError("\(schedulePath): \(error)")
        }
        let architectures = TeacherArchitectures(
            space: space, poolSize: schedule.pool, warmup: schedule.warmup, seed: seed)
        if let first = architectures.warmupGenome {
            print(
                "gtn nas: the teacher's warm-up, meta-iterations 1-\(architectures.warmup): \(first.description)")
        }
        if !architectures.pool.isEmpty {
            print(
                "gtn nas: the teacher's \(counted(architectures.pool.count, "architecture")): "
                    + architectures.pool.map(\.description).joined(separator: "; "))
        }
        session.trainer.learnerSampler = { rng, iteration in
            space.cellNetwork(for: architectures.genome(&rng, metaIteration: iteration))
        }
        let c = session.trainer.config
        print(
            "gtn nas: meta-training a GTN on random architectures of the space: T=\(c.innerSteps), B=\(c.batchSize),"
                + " \(counted(c.learnersPerIteration, "architecture")) per meta-iteration,"
                + " \(counted(c.metaIterations, "meta-iteration")) -> \(directory)"
        )
        let terminal = TerminalRun(
            command: "gtn nas", learnerName: "a random architecture taught",
            continueHint: "Run the same command again to continue.",
            completeHint: "Run the same command again to go on to the search.", showEvaluationSeconds: false)
        try terminal.run(&session)
        // The study that follows is resumable from its caches: a signal ends it at once again.
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        return session.checkpointPath
    }

    func run() throws {
        setlinebuf(stdout)
        // With --gtn RUN, the data that run was trained on (unless --data names other data).
        let splits: DataSplits
        if trainGtn == nil, let gtn {
            var isDir: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: gtn, isDirectory: &isDir)
            let runDirectory =
                exists && isDir.boolValue ? gtn : URL(fileURLWithPath: gtn).deletingLastPathComponent().path
            splits = try loadData(forRun: runDirectory, explicit: data)
        } else {
            splits = try loadData(data ?? DataSource.defaultDirectory)
        }
        let image = ImageShape(
            channels: splits.imageShape[0], height: splits.imageShape[1], width: splits.imageShape[2])
        let space = CellSearchSpace(
            nodes: nodes, image: image, classes: splits.classes, channels: channels, cellsPerStage: cellsPerStage,
            stemStride: stemStride, head: head)
        let out = output.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        if let out, !measure {
            do { try createDirectory(out) } catch { throw CommandError("--output \(out): \(error)") }
        }
        // The teacher.
        var path: String
        if let n = trainGtn, let out {
            path = try trainTeacher(space: space, splits: splits, iterations: n, directory: out + "/gtn")
        } else {
            let gtn = gtn ?? ""
            path = gtn
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw CommandError("--gtn \(gtn): no such file or directory")
            }
            if isDir.boolValue { path = (path.hasSuffix("/") ? path : path + "/") + "checkpoint.safetensors" }
            guard FileManager.default.fileExists(atPath: path) else {
                throw CommandError("--gtn \(gtn): no checkpoint.safetensors in this directory")
            }
        }
        let trainer: MetaTrainer
        do { trainer = try Checkpoint.load(path: path) } catch { throw CommandError("--gtn \(path): \(error)") }
        let c = trainer.config
        guard image == c.learner.image && splits.classes == c.learner.classes else {
            throw CommandError(
                "--data \(data ?? DataSource.defaultDirectory): images \(image.dims) with \(splits.classes) classes, "
                    + "but the GTN in \(path) was trained for \(c.learner.image.dims) with \(c.learner.classes) classes"
            )
        }
        let validation = validationSubset(splits.validation, count: validationExamples)
        // The cheap evaluators' images: the first ones of the true score's (same split, fewer).
        let proxyValidation =
            proxyValidationExamples.map { validationSubset(splits.validation, count: $0) } ?? validation
        let checkpointID = "\(URL(fileURLWithPath: path).standardizedFileURL.path)@\(trainer.state.iteration)"
        let proxySettings = GTNProxyEvaluator.Settings(steps: proxySteps, learners: proxyLearners, seed: seed)
        let realSettings = (0..<UInt64(realSeeds)).map { k in
            RealDataEvaluator.Settings(
                steps: realStepCount(trainCount: splits.train.count), batchSize: realBatchSize, learningRate: realLr,
                momentum: realMomentum, seed: (realSeed ?? seed) &+ k)
        }
        let cacheDirectory = measure ? nil : out
        let proxy = try GTNProxyEvaluator(
            trainer: trainer, checkpointID: checkpointID, validation: proxyValidation, train: splits.train,
            settings: proxySettings, context: space.signature,
            cachePath: cacheDirectory.map { $0 + "/proxy-cache.jsonl" })
        let trainings = try realSettings.map {
            try RealDataEvaluator(
                train: splits.train, validation: validation, settings: $0, context: space.signature,
                cachePath: cacheDirectory.map { $0 + "/real-cache.jsonl" })
        }
        let real: CachedEvaluator = trainings.count == 1 ? trainings[0] : try MeanOverSeedsEvaluator(trainings)
        let proxyStepCount = proxySteps ?? c.innerSteps
        print(
            "gtn nas: GTN \(path) (\(c.teacher.rawValue) teacher, meta-iteration \(trainer.state.iteration), "
                + "T=\(c.innerSteps), B=\(c.batchSize)), \(splits.name)"
        )
        print(
            "gtn nas: space: cells of \(nodes) nodes, ops \(space.ops.map(\.rawValue).joined(separator: " ")),"
                + " \(channels) channels, stem stride \(stemStride), \(space.stages) stages of \(cellsPerStage) "
                + "cell(s), \(head.rawValue) head (\(String(format: "%.2g", space.size)) genomes)"
        )
        print(
            "gtn nas: proxy: \(counted(proxyStepCount, "step")) on GTN data, learned lr/momentum,"
                + " \(counted(proxyLearners, "learner")); real: \(realDescription(splits.train.count)) of \(realBatchSize),"
                + " lr \(realLr) (cosine), momentum \(realMomentum); "
                + (proxyValidation.count == validation.count
                    ? "both scored on \(validation.count) validation images"
                    : "scored on \(proxyValidation.count) and \(validation.count) validation images")
        )
        if measure { return try measureTimings(space: space, proxy: proxy, real: real, batch: c.batchSize) }
        guard let out else { return }
        if proxy.cache.count + real.cache.count > 0 {
            print(
                "gtn nas: resuming: \(proxy.cache.count) proxy and \(real.cache.count) real evaluations cached "
                    + "in \(out)"
            )
        }
        var settings: [(String, String)] = [
            (
                "GTN",
                "\(path) (meta-iteration \(trainer.state.iteration), T=\(c.innerSteps), B=\(c.batchSize),"
                    + " \(c.innerOptimizer.rawValue))"
            ),
            (
                "data",
                "\(splits.name): real training on \(splits.train.count) train images; scores on the "
                    + "first \(validation.count) validation images"
                    + (proxyValidation.count == validation.count
                        ? "" : " (the GTN proxy and its baseline on the first \(proxyValidation.count))")
            ),
            (
                "search space",
                "cells of \(nodes) nodes, ops \(space.ops.map(\.rawValue).joined(separator: ", ")); stem \(channels) "
                    + "channels, stride \(stemStride); \(space.stages) stages of \(cellsPerStage) cell(s);"
                    + " \(head.rawValue) head"
            ),
            (
                "GTN proxy",
                "\(counted(proxyStepCount, "step")) on the GTN's batches with its learned learning rates and momenta;"
                    + " \(counted(proxyLearners, "learner"))"
            ),
            (
                "real training",
                "\(realDescription(splits.train.count)) of \(realBatchSize), lr \(realLr) cosine-annealed, "
                    + "momentum \(realMomentum)"
            ),
            (
                "seed",
                "\(seed)"
                    + (realSeeds > 1
                        ? " (real training: \(realSeed ?? seed) to \((realSeed ?? seed) &+ UInt64(realSeeds - 1)))"
                        : realSeed.map { " (real training: \($0))" } ?? "")
            ),
        ]
        if let search {
            settings.append(("search", search.rawValue))
            try runSearch(search, space: space, proxy: proxy, real: real, out: out)
        } else {
            // The baseline a reviewer asks for: real data at the proxy's cost (its steps and batch; the
            // real training's lr, cosine-annealed, and momentum).
            let baseline = try RealDataEvaluator(
                train: splits.train, validation: proxyValidation,
                settings: RealDataEvaluator.Settings(
                    steps: proxyStepCount, batchSize: c.batchSize, learningRate: realLr, momentum: realMomentum,
                    seed: seed),
                context: space.signature, cachePath: out + "/baseline-cache.jsonl")
            settings.append(
                (
                    "baseline proxy",
                    "\(counted(proxyStepCount, "step")) of \(c.batchSize) real images, lr \(realLr) cosine-annealed, "
                        + "momentum \(realMomentum)"
                ))
            try runStudy(space: space, proxy: proxy, real: real, baseline: baseline, out: out, settings: settings)
        }
    }

    /// Real training's SGD steps: --real-steps, or --real-epochs whole passes over the training split.
    func realStepCount(trainCount: Int) -> Int {
        if let e = realEpochs { return e * ((trainCount + realBatchSize - 1) / realBatchSize) }
        return realSteps ?? 80
    }

    func realDescription(_ trainCount: Int) -> String {
        let steps = counted(realStepCount(trainCount: trainCount), "SGD step")
        let one = realEpochs.map { "\(counted($0, "epoch")) (\(steps))" } ?? steps
        return realSeeds == 1 ? one : "mean of \(realSeeds) trainings of \(one)"
    }

    // MARK: Correlation study

    func runStudy(
        space: CellSearchSpace, proxy: CachedEvaluator, real: CachedEvaluator, baseline: CachedEvaluator, out: String,
        settings: [(String, String)]
    ) throws {
        var rng = RandomSource(seed: seed)
        let genomes = space.sampleDistinct(architectures, &rng)
        var progress = NASProgress(total: genomes.count)
        var rows: [StudyRow] = []
        for (i, g) in genomes.enumerated() {
            let key = g.description
            let cached = proxy.cache[key] != nil && real.cache[key] != nil && baseline.cache[key] != nil
            let net = space.cellNetwork(for: g)
            let p = try proxy.evaluate(genome: key, architecture: net)
            let b = try baseline.evaluate(genome: key, architecture: net)
            let r = try real.evaluate(genome: key, architecture: net)
            rows.append(StudyRow(genome: key, proxy: p, real: r, parameters: net.parameterCount, baseline: b))
            progress.step(
                i, cached: cached,
                String(
                    format: "proxy %5.2f%% (%.1f s)  baseline %5.2f%%  real %5.2f%% (%.1f s)  %@",
                    100 * p.accuracy, p.seconds, 100 * b.accuracy, 100 * r.accuracy, r.seconds, key))
            // Keep the files current, so a long study can be looked at while it runs.
            if rows.count >= 2 && (rows.count % 10 == 0) { _ = try writeStudy(rows, settings: settings, to: out) }
        }
        let summary = try writeStudy(rows, settings: settings, to: out)
        for line in summary.lines { print("gtn nas: " + line) }
        print("gtn nas: results in \(out)/results.csv, report in \(out)/report.html")
    }

    // MARK: Search

    func runSearch(
        _ kind: NASSearchKind, space: CellSearchSpace, proxy: CachedEvaluator, real: CachedEvaluator, out: String
    ) throws {
        var rng = RandomSource(seed: seed)
        var progress = NASProgress(total: budget)
        var wasCached = false
        let fitness = { (g: CellGenome) throws -> Double in
            wasCached = proxy.cache[g.description] != nil
            return try proxy.evaluate(genome: g.description, architecture: space.network(for: g)).accuracy
        }
        let report = { (i: Int, c: SearchCandidate<CellGenome>) in
            let seconds = proxy.cache[c.genome.description]?.seconds ?? 0
            progress.step(
                i, cached: wasCached,
                String(format: "proxy %5.2f%% (%.1f s)  %@", 100 * c.fitness, seconds, c.genome.description))
        }
        let history: [SearchCandidate<CellGenome>]
        switch kind {
        case .random: history = try Search.random(space, budget: budget, rng: &rng, fitness: fitness, progress: report)
        case .evolution:
            history = try Search.regularizedEvolution(
                space, population: population, sample: sampleSize, budget: budget,
                rng: &rng, fitness: fitness, progress: report)
        }
        var csv = "index,genome,proxy_accuracy,proxy_seconds\n"
        for (i, c) in history.enumerated() {
            csv += String(
                format: "%d,%@,%.4f,%.3f\n", i, c.genome.description, c.fitness,
                proxy.cache[c.genome.description]?.seconds ?? 0)
        }
        try writeAtomically(Data(csv.utf8), to: out + "/search.csv")
        let best = Search.best(history, k: topK)
        print(
            "gtn nas: \(kind.rawValue) search scored \(history.count) architectures "
                + "(\(Set(history.map(\.genome)).count) distinct) with the proxy; training its top \(best.count) on "
                + "real data"
        )
        var topCSV = "rank,genome,proxy_accuracy,real_accuracy,real_seconds\n"
        var realProgress = NASProgress(total: best.count)
        var results: [(SearchCandidate<CellGenome>, Evaluation)] = []
        for (i, c) in best.enumerated() {
            let key = c.genome.description
            let cached = real.cache[key] != nil
            let r = try real.evaluate(genome: key, architecture: space.network(for: c.genome))
            results.append((c, r))
            realProgress.step(
                i, cached: cached, String(format: "real %5.2f%% (%.1f s)  %@", 100 * r.accuracy, r.seconds, key))
            topCSV += String(format: "%d,%@,%.4f,%.4f,%.3f\n", i + 1, key, c.fitness, r.accuracy, r.seconds)
        }
        try writeAtomically(Data(topCSV.utf8), to: out + "/top-k.csv")
        print("rank  proxy %   real %   genome")
        for (i, (c, r)) in results.enumerated() {
            print(
                String(format: "%4d  %7.2f  %7.2f   %@", i + 1, 100 * c.fitness, 100 * r.accuracy, c.genome.description)
            )
        }
        if let winner = results.max(by: { $0.1.accuracy < $1.1.accuracy }) {
            print(
                String(
                    format: "gtn nas: best on real data: %@ (%.2f%%)", winner.0.genome.description,
                    100 * winner.1.accuracy))
        }
        print("gtn nas: history in \(out)/search.csv, top \(best.count) in \(out)/top-k.csv")
    }

    // MARK: Timing

    func measureTimings(space: CellSearchSpace, proxy: CachedEvaluator, real: CachedEvaluator, batch: Int) throws {
        var rng = RandomSource(seed: seed)
        let genomes = space.sampleDistinct(5, &rng)
        let x = Tensor<Float>.randomNormal([batch] + space.image.dims, using: &rng)
        let y = oneHotLabels((0..<batch).map { $0 % space.classes }, classes: space.classes)
        var stepTimes: [Double] = []
        for g in genomes {
            let net = space.cellNetwork(for: g)
            let w = net.initialWeights(seed: 1)
            var times: [Double] = []
            for _ in 0..<4 {
                let start = Date()
                _ = trainLearner(
                    net, initialWeights: w, steps: 1, learningRates: [0.01], momenta: [0.5], batch: { _ in (x, y) })
                times.append(Date().timeIntervalSince(start))
            }
            stepTimes.append(times.dropFirst().min()!)
            print(
                String(
                    format:
                        "forward+backward+update at B=%d: %6.1f ms (best of 3 after a warm-up; %.1f MMAC/example)  %@",
                    batch,
                    1000 * times.dropFirst().min()!, Double(net.forwardMACs) / 1e6, g.description))
        }
        if let profile = opProfileReport() { print(profile) }
        let g = genomes[0]
        let net = space.cellNetwork(for: g)
        let p = try proxy.evaluate(genome: "measure:" + g.description, architecture: net)
        let r = try real.evaluate(genome: "measure:" + g.description, architecture: net)
        print(
            String(
                format:
                    "one proxy evaluation: %.2f s (accuracy %.2f%%); one real evaluation: %.2f s (accuracy %.2f%%); "
                    + "ratio %.1fx",
                p.seconds, 100 * p.accuracy, r.seconds, 100 * r.accuracy, r.seconds / p.seconds))
        // Scale by the mean step time of the sampled architectures over the first one's.
        let each = (p.seconds + r.seconds) * stepTimes.reduce(0, +) / Double(stepTimes.count) / stepTimes[0]
        print(
            String(
                format: "a study of %d architectures: roughly %.0f minutes at the current machine load", architectures,
                Double(architectures) * each / 60))
    }
}

/// Progress lines on stderr: item i/N, running time, ETA (from the items this run computed).
struct NASProgress {
    let total: Int
    let started = Date()
    var computed = 0
    var computedSeconds = 0.0
    var last = Date()

    init(total: Int) { self.total = total }

    mutating func step(_ i: Int, cached: Bool, _ message: String) {
        let now = Date()
        if !cached {
            computed += 1
            computedSeconds += now.timeIntervalSince(last)
        }
        last = now
        let remaining = total - i - 1
        let eta = computed > 0 ? computedSeconds / Double(computed) * Double(remaining) : 0
        let line = String(
            format: "[%d/%d] %@ | %@ elapsed, ETA %@", i + 1, total, message + (cached ? " (cached)" : ""),
            NASProgress.format(now.timeIntervalSince(started)), NASProgress.format(eta))
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
