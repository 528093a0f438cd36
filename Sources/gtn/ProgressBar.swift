import Foundation
import GTN

/// A one-line progress bar on stderr with meta-loss, accuracy and ETA; on a non-terminal (a log
/// file, CI) it prints a plain line every few iterations instead.
struct ProgressBar {
    let total: Int
    let isTerminal = isatty(2) != 0
    var startIteration = 0
    var started = Date()
    var lastLine = ""

    init(total: Int) { self.total = total }

    mutating func start(at iteration: Int) {
        startIteration = iteration
        started = Date()
    }

    mutating func update(_ m: MetaStepMetrics) {
        let done = m.iteration + 1
        let elapsed = Date().timeIntervalSince(started)
        let perIteration = elapsed / Double(max(1, done - startIteration))
        let eta = perIteration * Double(total - done)
        let width = 24
        let filled = min(width, width * done / max(total, 1))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        lastLine = String(format: "[%@] %d/%d meta-loss %.4f acc %5.1f%% inner lr %.4f mom %.3f | %.1f s/it ETA %@",
                          bar, done, total, m.metaLoss, 100 * m.metaAccuracy, m.meanInnerLearningRate, m.meanInnerMomentum,
                          perIteration, format(eta))
        if isTerminal {
            FileHandle.standardError.write(Data(("\r" + lastLine + "\u{1B}[K").utf8))
        } else if done % 10 == 0 || done == total || done == startIteration + 1 {
            FileHandle.standardError.write(Data((lastLine + "\n").utf8))
        }
    }

    /// Prints a message above the bar.
    func log(_ message: String) {
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + message + "\n" + lastLine).utf8))
        } else {
            FileHandle.standardError.write(Data((message + "\n").utf8))
        }
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
