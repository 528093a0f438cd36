import Foundation

/// The one-line progress report of a run, fitted to a terminal's width: fields are dropped from
/// the least important up (momentum, learning rate, seconds per iteration, accuracy), then the bar
/// narrows, then the meta-loss and the bar go, so the count and the ETA always show and an update
/// never wraps into a second line.
public enum ProgressLine {
    public static func compose(
        done: Int, total: Int, metaLoss: Double, accuracy: Double, learningRate: Double,
        momentum: Double, secondsPerIteration: Double, eta: String, width: Int
    ) -> String {
        // In display order; `rank` is the order of dropping (lowest first), nil for always kept.
        let fields: [(text: String, rank: Int?)] = [
            ("\(done)/\(total)", nil),
            (String(format: "meta-loss %.4f", metaLoss), 5),
            (String(format: "acc %5.1f%%", 100 * accuracy), 3),
            (String(format: "inner lr %.4f", learningRate), 1),
            (String(format: "mom %.3f", momentum), 0),
            (String(format: "| %.1f s/it", secondsPerIteration), 2),
            ("ETA \(eta)", nil),
        ]
        func line(dropped: Int, bar: Int) -> String {
            let kept = fields.filter { ($0.rank ?? Int.max) >= dropped }.map(\.text)
            guard bar > 0 else { return kept.joined(separator: " ") }
            let filled = min(bar, bar * done / max(total, 1))
            return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: bar - filled) + "] "
                + kept.joined(separator: " ")
        }
        // Drop fields of rank < 4 one by one, then narrow the bar, then drop the meta-loss and the bar.
        var candidates: [String] = (0...4).map { line(dropped: $0, bar: 24) }
        candidates += stride(from: 20, through: 8, by: -4).map { line(dropped: 4, bar: $0) }
        candidates += [line(dropped: 6, bar: 8), line(dropped: 6, bar: 0)]
        let fit = candidates.first { $0.count <= width } ?? candidates.last!
        return String(fit.prefix(max(width, 1)))
    }
}

/// "1 meta-iteration", "2 meta-iterations": a count with its noun in the right number.
public func counted(_ n: Int, _ singular: String, plural: String? = nil) -> String {
    "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
}
