import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNMPI
import GTNTensor
import Synchronization

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train fresh learners on a trained teacher; report test accuracy per inner step, mean and ensemble.",
        discussion: """
            Writes the figures to evaluate.json next to the checkpoint (`gtn report` charts them).

            --steps beyond the T meta-trained for repeat the learned curriculum and inner schedule (step t uses \
            those of t mod T); --batch-multiplier K trains on K*B examples a step (the learned noise plus fresh \
            noise); together they give the paper's Fig. 5. The ensemble figure of Fig. 7 is the accuracy of the \
            averaged predictions of the first k learners, k = 1...--learners.
            """)

    @Argument(help: "A checkpoint.safetensors file, or a run directory holding one.")
    var checkpoint: String
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }
    @Option(help: "Fresh learners to train.") var learners = 5
    @Option(help: "Inner steps to train each learner for (default: the T it was meta-trained for).") var steps: Int?
    @Option(help: "Examples per step, as a multiple of the meta-trained batch size B.") var batchMultiplier = 1
    @Option(help: "Test examples to score after every step (the final step always uses the full test set).")
    var stepExamples = 2000
    @Flag(
        help:
            .init(
                "Also train each fresh learner on real data with plain SGD + momentum (same steps and batch), its "
                    + "constant lr and momentum tuned on the validation split first (--real-lrs x --real-momenta).")
    )
    var realDataControl = false
    @Option(
        help: .init("Learning rates the real-data control's tuning tries (comma-separated).", valueName: "lrs"),
        transform: parseNumbers)
    var realLrs: [Double] = RealDataTuning.defaultLearningRates
    @Option(
        help: .init("Momenta the real-data control's tuning tries (comma-separated).", valueName: "momenta"),
        transform: parseNumbers)
    var realMomenta: [Double] = RealDataTuning.defaultMomenta
    @Option(help: "Fresh learners (not among the evaluated ones) per grid point of the tuning.")
    var tuningLearners = 2
    @Flag(help: "Skip the tuning: the real-data control uses the run's initial inner lr and momentum.")
    var untunedControl = false
    @Option(
        help:
            .init(
                "Another run (a real-data or distillation teacher, say) to evaluate on the same fresh learners, for "
                    + "the paired table of the paper's Fig. 2a. Repeatable.", valueName: "run"))
    var compare: [String] = []
    @Option(help: "Where to write the figures (default: evaluate.json next to the checkpoint).") var output: String?

    func validate() throws {
        if learners < 1 { throw ValidationError("--learners must be at least 1, got \(learners)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchMultiplier < 1 {
            throw ValidationError("--batch-multiplier must be at least 1, got \(batchMultiplier)")
        }
        if stepExamples < 1 { throw ValidationError("--step-examples must be at least 1, got \(stepExamples)") }
        if tuningLearners < 1 { throw ValidationError("--tuning-learners must be at least 1, got \(tuningLearners)") }
        if let bad = realLrs.first(where: { !($0 > 0 && $0.isFinite) }) {
            throw ValidationError("--real-lrs: every learning rate must be a positive finite number, got \(bad)")
        }
        if let bad = realMomenta.first(where: { !($0 >= 0 && $0 < 1) }) {
            throw ValidationError("--real-momenta: every momentum must be in [0, 1), got \(bad)")
        }
        if untunedControl && !realDataControl {
            throw ValidationError("--untuned-control changes the real-data control; add --real-data-control")
        }
    }

    func run() throws {
        guard MPICollective.isLaunchedByMPI else { return try evaluate(mpi: nil) }
        // `mpirun -np N gtn evaluate`: the learners are shared out over the ranks (rank r trains
        // learners r, r + N, ...); rank 0 prints and writes the figures of all of them.
        let mpi = MPICollective()
        do { try evaluate(mpi: mpi) } catch {
            FileHandle.standardError.write(Data("gtn evaluate: rank \(mpi.rank) of \(mpi.size): \(error)\n".utf8))
            mpi.abort(1)
        }
        mpi.finish()
    }

    func evaluate(mpi: MPICollective?) throws {
        setlinebuf(stdout)  // progress lines reach a log file as they happen
        let isLeader = (mpi?.rank ?? 0) == 0
        func print(_ line: String) { if isLeader { Swift.print(line) } }
        let path = checkpointPath(checkpoint)
        let trainer = try Checkpoint.load(path: path)
        let c = trainer.config
        if c.teacher == .distillation && batchMultiplier > 1 {
            throw CommandError(
                "--batch-multiplier: a dataset-distillation teacher has exactly B = \(c.batchSize) images per step")
        }
        // Where the figures go is checked before any learner trains.
        let out = output ?? (URL(fileURLWithPath: path).deletingLastPathComponent().path + "/evaluate.json")
        let outDirectory = URL(fileURLWithPath: out).deletingLastPathComponent().path
        var outIsDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &outIsDirectory), outIsDirectory.boolValue {
            throw CommandError("--output \(out): is a directory; name the file to write")
        }
        guard FileManager.default.fileExists(atPath: outDirectory, isDirectory: &outIsDirectory),
            outIsDirectory.boolValue,
            access(outDirectory, W_OK) == 0
        else {
            throw CommandError("--output \(out): the directory \(outDirectory) does not exist or is not writable")
        }
        let splits = try loadData(forRun: URL(fileURLWithPath: path).deletingLastPathComponent().path, explicit: data)
        do { try TrainingSession.checkSizes(c, splits, batchMultiplier: batchMultiplier, evaluating: true) } catch let e
            as ConfigError
        {
            throw CommandError(e.message)
        }
        let stepSet = splits.test.slice(0..<min(stepExamples, splits.test.count))
        let n = steps ?? c.innerSteps
        print(
            "gtn evaluate: \(path) (\(c.teacher.rawValue) teacher, meta-iteration \(trainer.state.iteration)),"
                + " \(counted(learners, "learner")), \(counted(n, "step")) of \(c.batchSize * batchMultiplier) "
                + "examples (meta-trained: T=\(c.innerSteps), B=\(c.batchSize)), \(splits.name)"
        )
        // The other teachers are loaded (and checked to teach the same learners) before anything trains.
        let others = try compare.map { run -> (String, MetaTrainer) in
            let other = try Checkpoint.load(path: checkpointPath(run))
            let o = other.config
            guard o.learner == c.learner, o.randomLearnerWidths == c.randomLearnerWidths,
                o.batchSize == c.batchSize
            else {
                throw CommandError(
                    "--compare \(run): its learner or batch size differs from \(path)'s (\(o.learner.kind.rawValue), "
                        + "B=\(o.batchSize) vs \(c.learner.kind.rawValue), B=\(c.batchSize)); the rows are paired by "
                        + "learner, so they must train the same fresh learners")
            }
            return (run, other)
        }
        var tuning: RealDataTuning?
        if realDataControl && !untunedControl {
            print(
                "tuning the real-data control on the validation split: \(realLrs.count * realMomenta.count) lr x "
                    + "momentum pairs, \(counted(tuningLearners, "learner")) each, \(counted(n, "step"))")
            tuning = try tuneRealDataControl(
                trainer, train: splits.train, validation: splits.validation, steps: n,
                batchMultiplier: batchMultiplier, learningRates: realLrs, momenta: realMomenta,
                tuningLearners: tuningLearners, collective: mpi,
                progress: mpi == nil ? tuningProgressLine(pairs: realLrs.count * realMomenta.count) : nil)
            print(tuningTable(tuning!))
        }
        let teacherName = c.teacher == .gtn ? "GTN" : c.teacher.rawValue
        var e = try evaluateTeacher(
            trainer, train: splits.train, perStep: stepSet, final: splits.test, learners: learners,
            steps: n, batchMultiplier: batchMultiplier, realDataControl: realDataControl,
            realLearningRate: tuning?.bestLearningRate, realMomentum: tuning?.bestMomentum, collective: mpi,
            progress: { k, taught, real in
                guard mpi == nil else { return }  // printed below, once every rank's learners are in
                var line = String(
                    format: "learner %d: %.2f%% test accuracy after %@ on %@ data", k, 100 * taught,
                    counted(n, "step"), teacherName)
                if let real { line += String(format: ", %.2f%% on real data", 100 * real) }
                print(line)
            })
        if mpi != nil {
            for k in 0..<learners {
                var line = String(
                    format: "learner %d: %.2f%% test accuracy after %@ on %@ data", k, 100 * e.gtnFinal[k],
                    counted(n, "step"), teacherName)
                if let real = e.realFinal?[k] { line += String(format: ", %.2f%% on real data", 100 * real) }
                print(line)
            }
        }
        print(
            "step  mean accuracy on \(stepSet.count) test examples: teacher" + (realDataControl ? " | real data" : ""))
        for t in 0..<n {
            var line = String(format: "%4d  %6.2f%%", t + 1, 100 * e.gtnPerStep[t])
            if let r = e.realPerStep { line += String(format: " | %6.2f%%", 100 * r[t]) }
            print(line + (t + 1 == c.innerSteps && n != c.innerSteps ? "   <- T meta-trained for" : ""))
        }
        print(
            String(
                format: "teacher: mean %.2f%% (sd %.2f) over %@; ensemble of all %d: %.2f%%", 100 * mean(e.gtnFinal),
                100 * sampleStandardDeviation(e.gtnFinal), counted(learners, "learner"), learners,
                100 * e.ensembleBySize.last!))
        if let r = e.realFinal {
            print(
                String(
                    format: "real data (%@, lr %g, momentum %g%@): mean %.2f%% (sd %.2f)", counted(n, "SGD step"),
                    e.realLearningRate!, e.realMomentum!, tuning == nil ? ", untuned" : ", tuned on validation",
                    100 * mean(r), 100 * sampleStandardDeviation(r)))
        }
        e.realTuning = tuning
        if !others.isEmpty {
            e.compared = []
            for (run, other) in others {
                let o = try evaluateTeacher(
                    other, train: splits.train, perStep: stepSet, final: splits.test, learners: learners, steps: n,
                    batchMultiplier: batchMultiplier, realDataControl: false, collective: mpi)
                e.compared!.append(
                    ComparedTeacher(
                        path: run, teacher: other.config.teacher.rawValue, iteration: other.state.iteration,
                        perStep: o.gtnPerStep, final: o.gtnFinal))
            }
        }
        print(pairedTable(e, teacherName: teacherName))
        if isLeader { try writeAtomically(JSONEncoder.sorted.encode(e), to: out) }
        print("gtn evaluate: figures in \(out)")
    }
}

/// "0.01,0.1" -> [0.01, 0.1], for list-valued options.
func parseNumbers(_ text: String) throws -> [Double] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let values = parts.compactMap(Double.init)
    guard !parts.isEmpty, values.count == parts.count else {
        throw ValidationError("expected comma-separated numbers such as 0.01,0.1; got \"\(text)\"")
    }
    return values
}

/// Prints one line per tuned lr x momentum pair as it finishes (the grid takes minutes at T = 32).
func tuningProgressLine(pairs: Int) -> (Double, Double, Double) -> Void {
    var done = 0
    return { lr, momentum, accuracy in
        done += 1
        print(
            String(format: "  [%d/%d] lr %g, momentum %g: %.2f%% validation", done, pairs, lr, momentum, 100 * accuracy)
        )
    }
}

/// The tuning grid: validation accuracy per learning rate (rows) and momentum (columns), the best marked.
func tuningTable(_ t: RealDataTuning) -> String {
    var lines = ["  lr \\ momentum" + t.momenta.map { String(format: " %8g", $0) }.joined()]
    for (i, lr) in t.learningRates.enumerated() {
        var line = String(format: "  %-14g", lr)
        for (j, m) in t.momenta.enumerated() {
            let best = lr == t.bestLearningRate && m == t.bestMomentum
            line += String(format: " %7.2f%@", 100 * t.validationAccuracy[i][j], best ? "*" : " ")
        }
        lines.append(line)
    }
    lines.append(
        String(format: "  best: lr %g, momentum %g", t.bestLearningRate, t.bestMomentum)
            + (t.bestIsOnEdge ? " (on the grid's edge: widen --real-lrs)" : ""))
    return lines.joined(separator: "\n")
}

/// Every teacher's final test accuracy over the same learners, and its paired differences with
/// the real-data control (learner k of every row starts from the same weights).
func pairedTable(_ e: TeacherEvaluation, teacherName: String) -> String {
    var rows: [(String, [Double])] = [(teacherName, e.gtnFinal)]
    for o in e.compared ?? [] { rows.append(("\(o.teacher) (\(o.path), meta-iteration \(o.iteration))", o.final)) }
    let real = e.realFinal
    if let real {
        rows.append(
            (String(format: "real data, plain SGD (lr %g, momentum %g)", e.realLearningRate!, e.realMomentum!), real))
    }
    var lines = [
        "teacher: test accuracy after \(counted(e.steps, "step")), mean (sd) over \(counted(e.learners, "learner"))"
            + (real == nil ? "" : "; paired difference with real data: mean [min, max], learners ahead")
    ]
    for (name, finals) in rows {
        var line = String(format: "  %6.2f%% (%4.2f)  ", 100 * mean(finals), 100 * sampleStandardDeviation(finals))
        if let real, finals != real {
            let d = zip(finals, real).map { 100 * ($0 - $1) }
            line += String(
                format: "%+6.2f [%+.2f, %+.2f] %d/%d  ", mean(d), d.min()!, d.max()!, d.filter { $0 > 0 }.count, d.count
            )
        }
        lines.append(line + name)
    }
    return lines.joined(separator: "\n")
}
