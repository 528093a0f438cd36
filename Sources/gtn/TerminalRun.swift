import Foundation
import GTN

/// A training session run in the terminal, for every long-running command (`gtn train`, `gtn nas
/// --train-gtn`, and the teachers to come): the progress bar, the evaluation and sample lines,
/// Ctrl-C and SIGTERM (stop at the end of the meta-iteration or evaluation under way; the session
/// saves its checkpoint), and the exit status of a stopped run (130, 143).
struct TerminalRun {
    /// What begins each of the command's own lines ("gtn", "gtn nas").
    var command: String
    /// Who the evaluations' learner is ("taught learner", "a random architecture taught").
    var learnerName: String
    /// What to do after a stop: "Continue with: gtn train --resume DIR".
    var continueHint: String
    /// What to do after a stop during the final evaluation (the run is complete).
    var completeHint: String
    /// Also print the seconds each evaluation took.
    var showEvaluationSeconds = true

    /// Runs `session` to its end or to a stop; `finished` is called with the last evaluation when
    /// the run completes. Throws the signal's exit code if the run was stopped.
    func run(_ session: inout TrainingSession, finished: (EvaluationRecord?) -> Void = { _ in }) throws {
        let total = session.trainer.config.metaIterations
        Interrupt.install()
        var bar = ProgressBar(total: total)
        var stopped = false
        try session.run(shouldStop: { Interrupt.isRequested }) { event in
            switch event {
            case .started(let i, let n, let resumed):
                bar.start(at: i)
                if resumed { print("\(command): resuming at meta-iteration \(i) of \(n)") }
            case .metaStep(let m): bar.update(m)
            case .evaluating(_, let fullTest):
                if fullTest { bar.log("evaluating a fresh learner on the whole test set...") }
            case .evaluated(let r):
                var line = String(
                    format: "eval @%d: %@ %.2f%% test (%@), real-data control %.2f%%", r.iteration, learnerName,
                    100 * r.testAccuracy, counted(r.validationPerStep.count, "step"), 100 * r.realDataTestAccuracy)
                if showEvaluationSeconds { line += String(format: "  [%.0f s]", r.seconds) }
                bar.log(line)
            case .checkpointed: break
            case .samples(let path): bar.log("samples: \(path)")
            case .interrupted(let i):
                bar.log(
                    i == total
                        ? "stopped during the final evaluation; the run is complete and saved. \(completeHint)"
                        : "stopped after meta-iteration \(i); checkpoint saved. \(continueHint)")
                stopped = true
            case .finished(let r):
                bar.finish()
                finished(r)
            }
        }
        if stopped { throw Interrupt.exitCode }
    }
}
