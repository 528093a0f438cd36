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
        // A log file gets every field; a terminal gets what fits in its width (less one column,
        // so that the cursor never wraps).
        lastLine = ProgressLine.compose(
            done: done, total: total, metaLoss: m.metaLoss, accuracy: m.metaAccuracy,
            learningRate: m.meanInnerLearningRate, momentum: m.meanInnerMomentum,
            secondsPerIteration: perIteration, eta: format(eta),
            width: isTerminal ? Self.terminalColumns() - 1 : Int.max)
        if isTerminal {
            FileHandle.standardError.write(Data(("\r" + lastLine + "\u{1B}[K").utf8))
        } else if done % 10 == 0 || done == total || done == startIteration + 1 {
            FileHandle.standardError.write(Data((lastLine + "\n").utf8))
        }
    }

    /// The width of the terminal on stderr: its window size, else $COLUMNS, else 80.
    static func terminalColumns() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 { return Int(size.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
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
        return s >= 3600
            ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
