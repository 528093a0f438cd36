import Foundation
import GTNIO

// `gtn report` of `gtn rl` runs (paper Fig. 8): return against environment steps and against wall
// time, one colour per run, the greedy evaluation solid and the training episodes dashed.

/// One `gtn rl` run: its metrics.jsonl rows.
struct RLRun {
    struct Row {
        var steps, seconds, evaluation, training: Double
        /// GTN-RL: the same fresh policies before their step on the teacher's data (the control).
        var untrained: Double?
    }
    let directory: String
    let method: String
    let environment: String
    let rows: [Row]

    var label: String { "\(URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent) (\(method))" }

    /// Whether `directory` holds a `gtn rl` run (no config.json; metrics rows with environment steps).
    static func isRLRun(_ directory: String) -> Bool {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        guard !FileManager.default.fileExists(atPath: base + "/config.json"),
            let text = try? String(contentsOfFile: base + "/metrics.jsonl", encoding: .utf8),
            let first = text.split(separator: "\n").first
        else { return false }
        return first.contains("\"environmentSteps\"")
    }

    static func load(_ directory: String) throws -> RLRun {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var notes: [String] = []
        let fields = try RunData.jsonLines(base + "/metrics.jsonl", notes: &notes)
        let rows = try fields.map { f in
            Row(
                steps: try f.required("environmentSteps", f.number("environmentSteps")),
                seconds: try f.required("seconds", f.number("seconds")),
                evaluation: try f.required("evaluationReturn", f.number("evaluationReturn")),
                training: try f.required("trainingReturn", f.number("trainingReturn")),
                untrained: try f.number("untrainedReturn"))
        }
        let first = fields.first?.object
        return RLRun(
            directory: directory, method: first?["method"] as? String ?? "?",
            environment: first?["environment"] as? String ?? "?", rows: rows)
    }
}

public enum RLReport {
    /// Whether every directory given is a `gtn rl` run.
    public static func handles(_ runs: [String]) -> Bool { !runs.isEmpty && runs.allSatisfy(RLRun.isRLRun) }

    public static func html(runs: [String]) throws -> String {
        let loaded = try runs.map(RLRun.load)
        func chart(_ key: String, _ title: String, _ xLabel: String, _ x: (RLRun.Row) -> Double) -> String {
            var series: [ChartSeries] = []
            for (i, run) in loaded.enumerated() {
                let color = palette[i % palette.count]
                series.append(
                    ChartSeries(
                        label: "\(run.label): greedy, 20 episodes", key: "\(key)-\(i)-greedy",
                        points: run.rows.map { (x($0), $0.evaluation) }, color: color, dots: false,
                        legendLabel: "\(run.label)"))
                series.append(
                    ChartSeries(
                        label: "\(run.label): training episodes", key: "\(key)-\(i)-training",
                        points: run.rows.map { (x($0), $0.training) }, color: color, dash: .dashed, width: 1.2,
                        dots: false, inLegend: false))
                let untrained = run.rows.compactMap { r in r.untrained.map { (x(r), $0) } }
                if !untrained.isEmpty {
                    series.append(
                        ChartSeries(
                            label: "\(run.label): the same fresh policies before their step",
                            key: "\(key)-\(i)-untrained",
                            points: untrained, color: color, dash: .dotted, width: 1.2, dots: false, inLegend: false))
                }
            }
            var c = LineChart(key: key, title: title, xLabel: xLabel, yLabel: "return", series: series)
            c.yIncludesZero = true
            c.integerX = false
            return c.svg()
        }
        let title = "GTN rl: " + loaded.map(\.label).joined(separator: ", ")
        let environments = Set(loaded.map(\.environment)).sorted().joined(separator: ", ")
        return chartPage(
            title: title,
            introduction: "\(environments). Solid: mean return of 20 fresh episodes acting greedily (for GTN-RL, of a "
                + "fresh policy trained one SGD step on the teacher's synthetic states); dashed: the last 20 training "
                + "episodes or rollouts (sampled actions); dotted (GTN-RL): the same fresh policies before their step, "
                + "what a random initialisation does by itself. Both methods count every step of every environment.",
            figures: [
                (
                    chart("rl-steps", "Return against environment steps", "environment steps") { $0.steps },
                    "The paper's Fig. 8."
                ),
                (
                    chart("rl-seconds", "Return against wall time", "seconds") { $0.seconds },
                    "The same runs against wall-clock seconds."
                ),
            ])
    }
}
