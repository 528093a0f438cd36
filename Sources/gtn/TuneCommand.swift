import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNTune

extension TuningStudy.Objective: ExpressibleByArgument {}

struct Tune: ParsableCommand {
    enum Study: String, ExpressibleByArgument, CaseIterable {
        /// Paper Fig. 1b: the same search with and without weight normalisation.
        case weightNorm = "weight-norm"
    }

    static let configuration = CommandConfiguration(
        abstract: "Bayesian optimisation of meta-training hyperparameters (GP, Matérn 5/2, expected improvement).",
        discussion: """
            Each trial meta-trains the main job's configuration (or --config's) with the suggested values for \
            --iterations meta-iterations in DIR/trial-NNN-ARM, then scores it: meta-loss (mean of its last 5 \
            meta-iterations) or validation-error (1 - validation accuracy of a fresh learner it teaches). \
            trials.jsonl holds every trial; run the same command again to resume. A diverged trial is recorded and \
            modelled at a penalty. --space FILE: a JSON list of {"name", "low", "high", "scale": "linear"|"log", \
            "integer"} or {"name", "choices"}; tunable names: \(TuningStudy.tunable.keys.sorted().joined(separator: ", ")). \
            --study weight-norm runs the same search with and without weight normalisation (paper Fig. 1b); \
            gtn report DIR draws the two arms' final losses as boxplots.
            """)

    @OptionGroup var dataOption: DataOption
    @Option(name: .shortAndLong, help: "Study directory (created, or resumed).") var output: String
    @Option(help: "Trials (per arm, for a study).") var trials = 20
    @Option(help: "Meta-iterations per trial.") var iterations = 20
    @Option(help: "Objective: meta-loss or validation-error.") var objective: TuningStudy.Objective = .metaLoss
    @Option(help: "Search space (JSON); default: meta lr, inner lr, inner momentum, meta beta1, clip, width.")
    var space: String?
    @Option(help: "A study: weight-norm (paper Fig. 1b).") var study: Study?
    @Option(help: "Base configuration (JSON, as gtn train --config).") var config: String?
    @Option(help: "Random seed of the optimiser.") var seed: UInt64 = 0

    func validate() throws {
        if trials < 1 { throw ValidationError("--trials must be at least 1, got \(trials)") }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
    }

    func run() throws {
        setlinebuf(stdout)
        Interrupt.install()
        let splits = try loadData(dataOption.data ?? DataSource.defaultDirectory)
        var base = Train.defaults(for: splits)
        if let path = config {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw CommandError("--config \(path): cannot read the file")
            }
            do { base = try GTNConfig.decode(file: bytes, over: base) } catch let e as ConfigError {
                throw CommandError("--config \(path): \(e.message)")
            }
        }
        base.metaIterations = iterations
        var dimensions = TuningStudy.defaultSpace
        if let path = space {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw CommandError("--space \(path): cannot read the file")
            }
            do { dimensions = try JSONDecoder().decode([SearchDimension].self, from: bytes) } catch {
                throw CommandError("--space \(path): not a JSON list of search dimensions (\(error))")
            }
        }
        var arms = [TuningStudy.Arm(name: "tune", base: base)]
        if study == .weightNorm {
            var off = base
            (off.learner.weightNorm, off.generator.weightNorm) = (false, false)
            var on = base
            (on.learner.weightNorm, on.generator.weightNorm) = (true, true)
            arms = [.init(name: "weight-norm", base: on), .init(name: "no-weight-norm", base: off)]
        }
        var tuning: TuningStudy
        do {
            tuning = try TuningStudy(
                directory: output, space: dimensions, arms: arms, trialsPerArm: trials, objective: objective,
                seed: seed)
        } catch let e as ConfigError { throw CommandError(e.message) }
        let total = trials * arms.count
        print(
            "gtn tune: \(counted(total, "trial")) (\(arms.map(\.name).joined(separator: ", "))), "
                + "\(counted(iterations, "meta-iteration")) each, objective \(objective.rawValue), \(splits.name) -> \(output)"
                + (tuning.trials.isEmpty ? "" : "; resuming after \(counted(tuning.trials.count, "trial"))"))
        while !tuning.isComplete {
            if Interrupt.isRequested { throw Interrupt.exitCode }
            let t = try tuning.runNext { config, directory in
                var options = RunOptions(directory: directory)
                (options.evaluateEvery, options.checkpointEvery, options.samplesEvery) = (
                    Int.max, config.metaIterations, config.metaIterations
                )
                options.finalEvaluation = false
                var session = try TrainingSession(config: config, data: splits, options: options)
                var losses: [Double] = []
                try session.run(shouldStop: { Interrupt.isRequested }) { event in
                    if case .metaStep(let m) = event { losses.append(m.metaLoss) }
                }
                if Interrupt.isRequested { throw Interrupt.exitCode }
                let record = try session.evaluate(fullTest: false)
                let last = losses.suffix(5)
                return (mean(Array(last)), record.validationPerStep.last ?? 0)
            }
            let shown = t.values.keys.sorted().map { k in String(format: "%@ %.4g", k, t.values[k]!) }
            print(
                String(
                    format: "trial %d (%@): %@ -> %@  [%.0f s]", t.trial, t.arm, shown.joined(separator: ", "),
                    t.objective.map { String(format: "%@ %.4f", objective.rawValue, $0) } ?? t.status, t.seconds))
        }
        for arm in arms {
            let done = tuning.trials.filter { $0.arm == arm.name }
            let ok = done.compactMap(\.objective).sorted()
            guard !ok.isEmpty else { continue }
            let best = done.filter { $0.objective == ok.first }.first!
            print(
                String(
                    format: "%@: best %@ %.4f (trial %d), median %.4f, %d of %d trials diverged", arm.name,
                    objective.rawValue, ok[0], best.trial, ok[ok.count / 2], done.count - ok.count, done.count))
        }
    }
}
