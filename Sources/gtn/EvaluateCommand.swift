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
            --steps beyond the T meta-trained for repeat the learned curriculum and inner schedule (step t uses
            those of t mod T); --batch-multiplier K trains on K*B examples a step (the learned noise plus fresh
            noise); together they give the paper's Fig. 5. The ensemble figure of Fig. 7 is the accuracy of the
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
                "Also train each fresh learner on real data (initial inner lr and momentum, same steps and batch) and "
                    + "report it alongside.")
    )
    var realDataControl = false
    @Option(help: "Where to write the figures (default: evaluate.json next to the checkpoint).") var output: String?

    func validate() throws {
        if learners < 1 { throw ValidationError("--learners must be at least 1, got \(learners)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if batchMultiplier < 1 {
            throw ValidationError("--batch-multiplier must be at least 1, got \(batchMultiplier)")
        }
        if stepExamples < 1 { throw ValidationError("--step-examples must be at least 1, got \(stepExamples)") }
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
        let teacherName = c.teacher == .gtn ? "GTN" : c.teacher.rawValue
        let e = try evaluateTeacher(
            trainer, train: splits.train, perStep: stepSet, final: splits.test, learners: learners,
            steps: n, batchMultiplier: batchMultiplier, realDataControl: realDataControl, collective: mpi,
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
        func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }
        func sd(_ xs: [Double]) -> Double {
            let m = mean(xs)
            return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(1, xs.count - 1))).squareRoot()
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
                100 * sd(e.gtnFinal), counted(learners, "learner"), learners, 100 * e.ensembleBySize.last!))
        if let r = e.realFinal {
            print(
                String(
                    format: "real data (%@, lr %g, momentum %g): mean %.2f%% (sd %.2f)", counted(n, "SGD step"),
                    c.innerLearningRate, c.innerMomentum, 100 * mean(r), 100 * sd(r)))
        }
        if isLeader { try writeAtomically(JSONEncoder.sorted.encode(e), to: out) }
        print("gtn evaluate: figures in \(out)")
    }
}
