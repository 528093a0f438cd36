import Foundation
import GTNIO

// `gtn report` of a `gtn tune` study: the arms' final objectives as boxplots side by side (paper
// Fig. 1b), and every trial's objective with the best so far, per arm.

/// Quartiles by linear interpolation (numpy's default): (q1, median, q3).
func quartiles(_ values: [Double]) -> (Double, Double, Double) {
    let s = values.sorted()
    func q(_ p: Double) -> Double {
        let h = p * Double(s.count - 1)
        let (lo, hi) = (Int(h.rounded(.down)), Int(h.rounded(.up)))
        return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
    }
    return (q(0.25), q(0.5), q(0.75))
}

/// An SVG boxplot: one box per group (quartiles, median line, whiskers to the furthest points within
/// 1.5 IQR, every point drawn beside its box).
func boxplotSVG(key: String, title: String, yLabel: String, groups: [(label: String, values: [Double])]) -> String {
    let (width, height, left, right, top, bottom) = (520.0, 320.0, 70.0, 20.0, 36.0, 46.0)
    let all = groups.flatMap(\.values)
    guard let lo0 = all.min(), let hi0 = all.max() else {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"\(key)\" width=\"\(Int(width))\" height=\"60\">"
            + "<text x=\"10\" y=\"30\">\(escapeHTML(title)): no finished trials yet</text></svg>"
    }
    let pad = max((hi0 - lo0) * 0.08, 1e-9)
    let (lo, hi) = (lo0 - pad, hi0 + pad)
    func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - (v - lo) / (hi - lo)) }
    let slot = (width - left - right) / Double(max(groups.count, 1))
    var out =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"\(key)\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
        + "font-family=\"sans-serif\" font-size=\"12\">"
    out +=
        "<text x=\"\(width / 2)\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"14\">\(escapeHTML(title))</text>"
    out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#333\"/>"
    for k in 0...4 {
        let v = lo + (hi - lo) * Double(k) / 4
        out += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
        out += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(width - right)\" y2=\"\(y(v))\" stroke=\"#eee\"/>"
    }
    out +=
        "<text transform=\"translate(16,\((top + height - bottom) / 2)) rotate(-90)\" text-anchor=\"middle\">"
        + "\(escapeHTML(yLabel))</text>"
    for (i, g) in groups.enumerated() where !g.values.isEmpty {
        let color = palette[i % palette.count]
        let cx = left + slot * (Double(i) + 0.5)
        let (q1, median, q3) = quartiles(g.values)
        let iqr = q3 - q1
        let inside = g.values.filter { $0 >= q1 - 1.5 * iqr && $0 <= q3 + 1.5 * iqr }
        let (wLow, wHigh) = (inside.min() ?? q1, inside.max() ?? q3)
        let w = min(70, slot * 0.4)
        out += "<g data-box=\"\(escapeHTML(g.label))\" data-median=\"\(median)\" data-q1=\"\(q1)\" data-q3=\"\(q3)\">"
        out += "<line x1=\"\(cx)\" y1=\"\(y(wLow))\" x2=\"\(cx)\" y2=\"\(y(wHigh))\" stroke=\"\(color)\"/>"
        out +=
            "<rect x=\"\(cx - w / 2)\" y=\"\(y(q3))\" width=\"\(w)\" height=\"\(max(y(q1) - y(q3), 1))\" "
            + "fill=\"\(color)\" fill-opacity=\"0.25\" stroke=\"\(color)\"/>"
        out +=
            "<line x1=\"\(cx - w / 2)\" y1=\"\(y(median))\" x2=\"\(cx + w / 2)\" y2=\"\(y(median))\" stroke=\"\(color)\" stroke-width=\"2.5\"/>"
        for (k, v) in g.values.enumerated() {
            let jitter = (Double(k % 5) - 2) * 3
            out +=
                "<circle cx=\"\(cx + w / 2 + 10 + jitter)\" cy=\"\(y(v))\" r=\"2.5\" fill=\"\(color)\"><title>\(v)</title></circle>"
        }
        out += "</g>"
        out +=
            "<text x=\"\(cx)\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(escapeHTML(g.label)) "
            + "(\(g.values.count))</text>"
    }
    return out + "</svg>"
}

public enum TuneReport {
    /// Whether `directory` holds a `gtn tune` study (trials.jsonl).
    public static func handles(_ runs: [String]) -> Bool {
        runs.count == 1 && FileManager.default.fileExists(atPath: runs[0] + "/trials.jsonl")
    }

    public static func html(study directory: String) throws -> String {
        let path = directory + "/trials.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var trials: [TuningStudy.Trial] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            guard let t = try? JSONDecoder().decode(TuningStudy.Trial.self, from: Data(line.utf8)) else {
                throw ReportError(path: path, line: n + 1, problem: "not a trial row")
            }
            trials.append(t)
        }
        var arms: [String] = []
        for t in trials where !arms.contains(t.arm) { arms.append(t.arm) }
        let losses = arms.map { a in (a, trials.filter { $0.arm == a }.compactMap(\.finalMetaLoss).filter(\.isFinite)) }
        let accuracies = arms.map { a in
            (a, trials.filter { $0.arm == a }.compactMap(\.validationAccuracy).map { 100 * $0 })
        }
        var series: [ChartSeries] = []
        for (i, a) in arms.enumerated() {
            let mine = trials.filter { $0.arm == a }
            var best = Double.infinity
            let bestSoFar = mine.enumerated().compactMap { k, t -> (x: Double, y: Double)? in
                guard let o = t.objective else { return nil }
                best = min(best, o)
                return (Double(k + 1), best)
            }
            series.append(
                ChartSeries(
                    label: "\(a): trial", key: "trials-\(i)",
                    points: mine.enumerated().compactMap { k, t in t.objective.map { (Double(k + 1), $0) } },
                    color: palette[i % palette.count], mark: .points(radius: 3, fillOpacity: 0.6, ring: false)))
            series.append(
                ChartSeries(
                    label: "\(a): best so far", key: "best-\(i)", points: bestSoFar, color: palette[i % palette.count],
                    dots: false, legendLabel: a))
        }
        let progress = LineChart(
            key: "tune-progress", title: "Objective by trial", xLabel: "trial of the arm", yLabel: "objective",
            series: series)
        let diverged = arms.map { a in
            "\(a): \(trials.filter { $0.arm == a && $0.objective == nil }.count) of \(trials.filter { $0.arm == a }.count) diverged"
        }
        return chartPage(
            title: "gtn tune: \(directory)",
            introduction:
                "\(trials.count) trials; \(diverged.joined(separator: "; ")) (diverged trials have no final loss).",
            figures: [
                (
                    boxplotSVG(
                        key: "box-loss", title: "Final meta-loss", yLabel: "meta-loss (last 5 iterations)",
                        groups: losses),
                    "Each arm's trials, as the paper's Fig. 1b: box from the first to the third quartile, the median bold, "
                        + "whiskers to the furthest trial within 1.5 IQR, every trial a dot."
                ),
                (
                    boxplotSVG(
                        key: "box-accuracy", title: "Validation accuracy of a taught learner", yLabel: "accuracy (%)",
                        groups: accuracies),
                    "A fresh learner taught by each trial's final teacher, on validation examples."
                ),
                (progress.svg(), "Every trial's objective and the best so far, per arm."),
            ])
    }
}
