import Foundation
import GTNIO

// `gtn report`: one self-contained HTML page for one or several run directories. Everything is
// inline (CSS, SVG charts drawn here, PNG sample grids as data: URIs) so that the page can be
// mailed, archived next to the run, or opened on a machine without network access.

/// A run directory, or a file in it, that cannot be reported on. `description` names the file (and
/// the line, for JSON-lines files) and what is wrong with it.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// 1-based line number in a JSON-lines file, when the problem is on one line.
    public let line: Int?
    public let problem: String

    public init(path: String, line: Int? = nil, problem: String) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(problem)" }
}

/// A self-contained page of charts (the `gtn rl` and `gtn tune` reports): a title, an introduction
/// (plain text), and figures (inline SVG with a caption) in a grid.
func chartPage(title: String, introduction: String, figures: [(svg: String, caption: String)]) -> String {
    var out = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escapeHTML(title))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:1320px;margin:24px auto;padding:0 16px}\
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}\
        figure{margin:0;border:1px solid #e4e4e4;padding:6px}figcaption{font-size:12px;color:#555}</style>
        </head><body><h1>\(escapeHTML(title))</h1>
        <p>\(escapeHTML(introduction))</p>
        <div class="charts">

        """
    for f in figures { out += "<figure>\(f.svg)<figcaption>\(escapeHTML(f.caption))</figcaption></figure>\n" }
    return out + "</div></body></html>\n"
}

public enum RunReport {
    /// The report as one HTML document. Throws a `ReportError` for a missing run directory or a
    /// malformed file in one; a run that has not evaluated (or even meta-trained) yet is fine.
    public static func html(runs: [String]) throws -> String {
        guard !runs.isEmpty else {
            throw ReportError(path: "(no run directories)", problem: "give at least one run directory")
        }
        var loaded = try runs.map(RunData.load)
        // Runs compared across experiments often share a directory name (a/seed0, b/seed0): the
        // legend must still tell them apart, so fall back to the path as given.
        let names = loaded.map(\.name)
        for i in loaded.indices where names.filter({ $0 == loaded[i].name }).count > 1 {
            loaded[i].name = loaded[i].directory
        }
        return ReportPage(runs: loaded).html()
    }

    /// Writes the report atomically: a browser reloading it while a new one is written never sees
    /// half a page.
    public static func write(runs: [String], to path: String) throws {
        try writeAtomically(Data(try html(runs: runs).utf8), to: path)
    }
}

// MARK: - The page

private struct ReportPage {
    let runs: [RunData]
    var single: Bool { runs.count == 1 }

    func color(_ i: Int) -> String { palette[i % palette.count] }

    func html() -> String {
        let title = single ? "GTN run \(runs[0].label)" : "GTN runs: " + runs.map(\.name).joined(separator: ", ")
        let stamp = ISO8601DateFormatter().string(from: Date())
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escapeHTML(title))</title>
            <style>\(Self.css)</style></head><body>
            <h1>\(escapeHTML(title))</h1>
            <p class="meta">Generated \(escapeHTML(stamp)) by <code>gtn report</code> from \(runs.map { "<code>\(escapeHTML($0.directory))</code>" }.joined(separator: ", ")).</p>\n
            """
        for note in runs.flatMap(\.notes) { out += "<p class=\"note\">\(escapeHTML(note))</p>\n" }
        out += summaryTable()
        out += "<h2>Meta-training</h2>\n<div class=\"charts\">\n"
        for (chart, caption) in trainingCharts() { out += figure(chart, caption) }
        out += "</div>\n"
        let evaluateCharts = self.evaluateCharts()
        if !evaluateCharts.isEmpty {
            out += "<h2>Fresh learners (<code>gtn evaluate</code>)</h2>\n<div class=\"charts\">\n"
            for (chart, caption) in evaluateCharts { out += figure(chart, caption) }
            out += "</div>\n"
        }
        for (i, run) in runs.enumerated() { out += runSection(run, index: i) }
        return out + "</body></html>\n"
    }

    func figure(_ chart: LineChart, _ caption: String) -> String {
        "<figure>\(chart.svg())\n<figcaption>\(escapeHTML(caption))</figcaption></figure>\n"
    }

    static let css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;\
        max-width:1320px;padding:0 16px;color:#222;background:#fff}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;\
        padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
        .meta{color:#666;font-size:13px;margin:0 0 12px}.note{background:#fff6dd;border:1px solid #e8d48b;\
        padding:6px 10px;font-size:13px}
        table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}\
        th{background:#f4f4f4}
        td.num{text-align:right;font-variant-numeric:tabular-nums}
        .swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
        figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:6px}figcaption{font-size:12px;color:#555;\
        padding:2px 6px 4px}
        svg.chart{width:100%;height:auto;display:block}
        .facts td:first-child{color:#555;white-space:nowrap}.run{margin-top:24px}\
        .summary td:first-child{white-space:nowrap}
        .run-body{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}.run-body>div{min-width:320px}
        .latest{display:inline-block}.latest img{image-rendering:pixelated;max-width:100%;height:auto;\
        border:1px solid #ccc}
        .thumbs{display:flex;gap:10px;overflow-x:auto;padding-bottom:6px}.thumbs figure{flex:none;text-align:center}
        .thumbs img{height:150px;image-rendering:pixelated}
        details{margin:8px 0}pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:8px;font-size:12px;overflow-x:auto}
        """

    // MARK: Summary

    func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "—" }

    func summaryTable() -> String {
        let hasEvaluate = runs.contains { $0.evaluation != nil }
        var out =
            "<h2>Summary</h2>\n<table class=\"summary\"><thead><tr><th>run</th><th>teacher</th><th>curriculum</th><th>"
            + "learner</th><th>weight norm</th>"
            + "<th>iterations done</th><th>final taught-learner test accuracy</th><th>final real-data control accuracy"
            + "</th><th>mean s / iteration</th>"
            + (hasEvaluate ? "<th>gtn evaluate: mean learner (ensemble)</th>" : "") + "</tr></thead><tbody>\n"
        for (i, run) in runs.enumerated() {
            let last = run.evaluations.last
            let at = last.map { " <small>(it. \($0.iteration))</small>" } ?? ""
            let seconds = run.metrics.compactMap(\.seconds)
            let meanSeconds =
                seconds.isEmpty ? "—" : String(format: "%.2f s", seconds.reduce(0, +) / Double(seconds.count))
            let total = run.metaIterations.map { " / \($0)" } ?? ""
            out += "<tr><td><span class=\"swatch\" style=\"background:\(color(i))\"></span>\(escapeHTML(run.name))</td>"
            out +=
                "<td>\(escapeHTML(run.teacher))</td><td>\(escapeHTML(run.curriculum))</td>"
                + "<td>\(escapeHTML(run.learnerKind))</td><td>\(escapeHTML(run.weightNorm))</td>"
            out += "<td class=\"num\">\(run.iterationsDone)\(total)</td>"
            out += "<td class=\"num\">\(percent(last?.testAccuracy))\(last?.testAccuracy == nil ? "" : at)</td>"
            out +=
                "<td class=\"num\">\(percent(last?.realDataTestAccuracy))\(last?.realDataTestAccuracy == nil ? "" : at)</td>"
            out += "<td class=\"num\">\(meanSeconds)</td>"
            if hasEvaluate {
                var cell = "—"
                if let e = run.evaluation, let finals = e.gtnFinal, !finals.isEmpty {
                    cell = percent(mean(finals)) + (e.ensembleBySize?.last.map { " (\(percent($0)))" } ?? "")
                }
                out += "<td class=\"num\">\(cell)</td>"
            }
            out += "</tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    // MARK: Charts

    /// One series per run of `value` against the meta-iterations done. A metrics row's
    /// `iteration` is the meta-iteration's index (from 0), an evaluation's and a sample grid's the
    /// number done when it was made (from 1): row i is plotted at i + 1, so that an evaluation
    /// after meta-iteration i lines up with that iteration's meta-loss.
    func perIteration(_ run: RunData, _ value: (MetricRow) -> Double?) -> [(x: Double, y: Double)] {
        run.metrics.compactMap { r in value(r).map { (Double(r.iteration + 1), $0) } }
    }

    /// A noisy per-iteration quantity: faint raw values under a bold trailing average over 10.
    func noisyChart(
        key: String, title: String, yLabel: String, scale: Double, yRange: ClosedRange<Double>?,
        _ value: @escaping (MetricRow) -> Double?
    ) -> LineChart {
        var series: [ChartSeries] = []
        for (i, run) in runs.enumerated() {
            let raw = perIteration(run, value).map { ($0.x, $0.y * scale) }
            let suffix = single ? "" : "-\(i)"
            series.append(
                ChartSeries(
                    label: single ? "per meta-iteration" : run.label, key: key + suffix, points: raw,
                    color: color(i), width: 1.2, opacity: 0.35, dots: false, inLegend: single))
            series.append(
                ChartSeries(
                    label: single ? "moving average over 10" : run.label, key: key + "-average" + suffix,
                    points: movingAverage(raw, window: 10), color: color(i), width: 2.2, dots: false))
        }
        return LineChart(
            key: key, title: title, xLabel: "meta-iterations done", yLabel: yLabel, series: series, yRange: yRange)
    }

    func simpleChart(
        key: String, title: String, yLabel: String, includeZero: Bool, _ value: @escaping (MetricRow) -> Double?
    ) -> LineChart {
        let series = runs.enumerated().map { i, run in
            ChartSeries(
                label: single ? title : run.label, key: key + (single ? "" : "-\(i)"), points: perIteration(run, value),
                color: color(i), width: 1.8, dots: false, inLegend: !single)
        }
        return LineChart(
            key: key, title: title, xLabel: "meta-iterations done", yLabel: yLabel, series: series,
            yIncludesZero: includeZero)
    }

    /// A taught learner (solid) and its real-data control (dashed) per run. With one run the two
    /// also differ in colour; with several, colour is the run, and the legend has one entry per
    /// run plus `styleKey` (twice as many entries with long labels would not fit).
    func pairedSeries(
        key: String, _ run: RunData, _ i: Int, taught: [(x: Double, y: Double)], real: [(x: Double, y: Double)],
        note: String = ""
    ) -> [ChartSeries] {
        let suffix = single ? "" : "-\(i)"
        if single {
            return [
                ChartSeries(label: "\(run.taughtName) learner", key: key + "-taught", points: taught, color: color(0)),
                ChartSeries(
                    label: "real-data control", key: key + "-real", points: real, color: color(1), dash: .dashed),
            ]
        }
        return [
            ChartSeries(
                label: "\(run.label): \(run.taughtName)", key: key + "-taught" + suffix, points: taught,
                color: color(i),
                legendLabel: run.label + note),
            ChartSeries(
                label: "\(run.label): real-data control", key: key + "-real" + suffix, points: real, color: color(i),
                dash: .dashed, inLegend: false),
        ]
    }

    var styleKey: [ChartSeries] {
        single
            ? []
            : [
                ChartSeries(label: "taught learner", key: "", points: [], color: "#555"),
                ChartSeries(label: "real-data control", key: "", points: [], color: "#555", dash: .dashed),
            ]
    }

    func trainingCharts() -> [(LineChart, String)] {
        var charts: [(LineChart, String)] = []
        charts.append(
            (
                noisyChart(
                    key: "meta-loss", title: "Meta-loss", yLabel: "cross-entropy on real data (nats)", scale: 1,
                    yRange: nil
                ) { $0.metaLoss },
                "Loss on a real batch of the learner trained on generated data, per meta-iteration (faint) and its "
                    + "moving average over 10 (bold)."
            ))
        charts.append(
            (
                noisyChart(
                    key: "meta-accuracy", title: "Meta-accuracy", yLabel: "accuracy on the meta-batch (%)", scale: 100,
                    yRange: 0...100
                ) { $0.metaAccuracy },
                "Accuracy on the real meta-batch of the learner at the end of each inner loop."
            ))

        let accuracy = runs.enumerated().flatMap { i, run in
            pairedSeries(
                key: "test-accuracy", run, i,
                taught: run.evaluations.compactMap { e in e.testAccuracy.map { (Double(e.iteration), 100 * $0) } },
                real: run.evaluations.compactMap { e in e.realDataTestAccuracy.map { (Double(e.iteration), 100 * $0) } }
            )
        }
        charts.append(
            (
                LineChart(
                    key: "test-accuracy", title: "Test accuracy of fresh learners over meta-training",
                    xLabel: "meta-iterations done",
                    yLabel: "test accuracy (%)", series: accuracy, yRange: 0...100,
                    xSpan: 1...Double(max(runs.map(\.iterationsDone).max()!, 1)), legendExtras: styleKey),
                "At each evaluation a freshly initialised learner is trained for T steps on the teacher's data (solid)"
                    + " and, as a control, for T steps on real data (dashed); cf. Fig. 2a of the paper."
            ))

        let perStep = runs.enumerated().flatMap { i, run -> [ChartSeries] in
            let last = run.evaluations.last
            let steps = { (v: [Double]) in v.enumerated().map { (Double($0.offset + 1), 100 * $0.element) } }
            return pairedSeries(
                key: "validation-per-step", run, i, taught: steps(last?.validationPerStep ?? []),
                real: steps(last?.realDataValidationPerStep ?? []), note: last.map { " @\($0.iteration)" } ?? "")
        }
        let lastIteration =
            single
            ? runs[0].evaluations.last.map { " (evaluation at meta-iteration \($0.iteration))" } ?? ""
            : " (last evaluation)"
        charts.append(
            (
                LineChart(
                    key: "validation-per-step", title: "Validation accuracy per inner step" + lastIteration,
                    xLabel: "inner training step",
                    yLabel: "validation accuracy (%)", series: perStep, yRange: 0...100, legendExtras: styleKey),
                "Accuracy after each inner step of the learners of the latest evaluation: taught (solid) vs real data "
                    + "(dashed); cf. Fig. 2b of the paper."
            ))

        charts.append(
            (
                simpleChart(
                    key: "inner-learning-rate", title: "Mean inner learning rate", yLabel: "learning rate",
                    includeZero: false
                ) { $0.meanInnerLearningRate },
                "The meta-learned inner learning rate, averaged over the inner steps."
            ))
        charts.append(
            (
                simpleChart(key: "inner-momentum", title: "Mean inner momentum", yLabel: "momentum", includeZero: false)
                { $0.meanInnerMomentum },
                "The meta-learned inner momentum, averaged over the inner steps."
            ))
        if runs.contains(where: { $0.metrics.contains { $0.discriminatorAccuracy != nil } }) {
            charts.append(
                (
                    noisyChart(
                        key: "discriminator-accuracy", title: "Discriminator accuracy", yLabel: "accuracy (%)",
                        scale: 100, yRange: 0...100
                    ) { $0.discriminatorAccuracy },
                    "GAN runs: the share of real and generated images the discriminator told apart (50%: it cannot)."
                ))
        }
        let scored: [(String, String, String, (ScoreRow) -> Double?, String)] = [
            (
                "frechet", "Fréchet distance to real images", "distance (lower: more realistic)",
                { $0.frechetDistance },
                "Between the reference classifier's penultimate features of the teacher's images and of test images."
            ),
            (
                "classifier-score", "Classifier score", "exp E KL(p(y|x) || p(y))", { $0.classifierScore },
                "The Inception score's formula with the reference classifier: high when images are recognisable and varied."
            ),
            (
                "classes-covered", "Classes covered", "classes", { $0.classesCovered },
                "Classes the reference classifier finds in at least a tenth of an even share of the images (collapse lowers it)."
            ),
        ]
        if runs.contains(where: { !$0.scores.isEmpty }) {
            for (key, title, yLabel, value, caption) in scored {
                let series = runs.enumerated().map { i, run in
                    ChartSeries(
                        label: single ? title : run.label, key: "score-\(key)" + (single ? "" : "-\(i)"),
                        points: run.scores.compactMap { r in value(r).map { (Double(r.iteration), $0) } },
                        color: color(i), width: 1.8, dots: true, inLegend: !single)
                }
                charts.append(
                    (
                        LineChart(
                            key: "score-\(key)", title: title, xLabel: "meta-iterations done", yLabel: yLabel,
                            series: series, yIncludesZero: true), caption + " (gtn train --classifier)"
                    ))
            }
        }
        charts.append(
            (
                simpleChart(key: "seconds", title: "Time per meta-iteration", yLabel: "seconds", includeZero: true) {
                    $0.seconds
                },
                "Wall-clock seconds per meta-iteration (evaluations and checkpoints not included)."
            ))
        return charts
    }

    func evaluateCharts() -> [(LineChart, String)] {
        let evaluated = runs.enumerated().filter { $0.element.evaluation != nil }
        guard !evaluated.isEmpty else { return [] }
        var perStep: [ChartSeries] = []
        var ensemble: [ChartSeries] = []
        var markers: [(x: Double, label: String)] = []
        for (i, run) in evaluated {
            let e = run.evaluation!
            let steps = { (v: [Double]?) in (v ?? []).enumerated().map { (Double($0.offset + 1), 100 * $0.element) } }
            var pair = pairedSeries(
                key: "evaluate-per-step", run, i, taught: steps(e.gtnPerStep), real: steps(e.realPerStep))
            if let m = e.gtnPerStep, let sd = e.gtnPerStepSD, sd.count == m.count {
                pair[0].band = zip(m, sd).enumerated().map {
                    (Double($0.offset + 1), 100 * ($0.element.0 - $0.element.1), 100 * ($0.element.0 + $0.element.1))
                }
            }
            perStep += pair
            if let t = e.innerSteps ?? run.innerSteps, !markers.contains(where: { $0.x == Double(t) }) {
                markers.append((Double(t), "meta-trained for T = \(t)"))
            }
            let sizes = (e.ensembleBySize ?? []).enumerated().map { (Double($0.offset + 1), 100 * $0.element) }
            let suffix = single ? "" : "-\(i)"
            ensemble.append(
                ChartSeries(
                    label: single ? "ensemble of the first k learners" : "\(run.label): ensemble",
                    key: "ensemble" + suffix,
                    points: sizes, color: color(i), legendLabel: single ? nil : run.label))
            let span = sizes.isEmpty ? [1.0] : [1.0, Double(sizes.count)]
            if let finals = e.gtnFinal, !finals.isEmpty {
                ensemble.append(
                    ChartSeries(
                        label: single ? "mean single learner" : "\(run.label): mean single learner",
                        key: "ensemble-single" + suffix,
                        points: span.map { ($0, 100 * mean(finals)) }, color: color(i), dash: .dashed, width: 1.5,
                        dots: false, inLegend: single))
            }
            if let finals = e.realFinal, !finals.isEmpty {
                ensemble.append(
                    ChartSeries(
                        label: single ? "mean real-data learner" : "\(run.label): mean real-data learner",
                        key: "ensemble-real" + suffix,
                        points: span.map { ($0, 100 * mean(finals)) }, color: single ? color(1) : color(i),
                        dash: .dotted, width: 1.5, dots: false, inLegend: single))
            }
        }
        let learners = evaluated.compactMap { $0.element.evaluation?.learners }.max()
        let batches = Set(evaluated.compactMap { $0.element.evaluation?.batchSize })
        let batch = batches.count == 1 ? " of \(batches.first!) examples" : ""
        return [
            (
                LineChart(
                    key: "evaluate-per-step", title: "Test accuracy per inner step", xLabel: "inner training step",
                    yLabel: "test accuracy (%)", series: perStep, yRange: 0...100, verticalMarkers: markers,
                    legendExtras: styleKey),
                "Mean over \(learners.map { "\($0) " } ?? "")fresh learners (band: ±1 standard deviation) taught by "
                    + "the teacher (solid) and trained on real data (dashed), in steps\(batch); steps past the T it "
                    + "was meta-trained for repeat its learned schedule."
            ),
            (
                LineChart(
                    key: "ensemble", title: "Ensemble accuracy", xLabel: "learners in the ensemble",
                    yLabel: "test accuracy (%)", series: ensemble, yLimits: 0...100,
                    legendExtras: single
                        ? []
                        : [
                            ChartSeries(label: "ensemble", key: "", points: [], color: "#555"),
                            ChartSeries(
                                label: "mean single learner", key: "", points: [], color: "#555", dash: .dashed,
                                dots: false),
                            ChartSeries(
                                label: "mean real-data learner", key: "", points: [], color: "#555", dash: .dotted,
                                dots: false),
                        ]),
                "Test accuracy of the ensemble (summed probabilities) of the first k taught learners, against the "
                    + "mean accuracy of a single taught learner (dashed) and of a real-data control learner (dotted). "
                    + "The y-axis is zoomed in on the data."
            ),
        ]
    }

    // MARK: Per-run sections

    func runSection(_ run: RunData, index: Int) -> String {
        var out =
            "<section class=\"run\"><h2><span class=\"swatch\" style=\"background:\(color(index))\">"
            + "</span>\(escapeHTML(run.label))</h2>\n"
        out += "<p class=\"meta\"><code>\(escapeHTML(run.directory))</code></p>\n"
        var facts: [(String, String)] = [
            ("data", run.data?.summary ?? "not recorded (a run made before data.json)"), ("teacher", run.teacher),
        ]
        if let kind = run.config["generatorKind"] as? String { facts.append(("generator", kind)) }
        facts += [
            ("curriculum", run.curriculum), ("learner", run.learnerKind), ("weight norm", run.weightNorm),
            ("inner steps T", display(run.config["innerSteps"])), ("batch size B", display(run.config["batchSize"])),
            ("meta-iterations", "\(run.iterationsDone) done of \(display(run.config["metaIterations"]))"),
            ("seed", display(run.config["seed"])),
        ]
        if let e = run.evaluation, let finals = e.gtnFinal, !finals.isEmpty {
            var text = String(format: "%.2f%% mean test accuracy of %d learners", 100 * mean(finals), finals.count)
            if let ensemble = e.ensembleBySize?.last { text += String(format: ", ensemble %.2f%%", 100 * ensemble) }
            if let real = e.realFinal, !real.isEmpty {
                text += String(format: "; real-data control %.2f%%", 100 * mean(real))
                if let lr = e.realLearningRate, let m = e.realMomentum {
                    text += String(format: " (lr %g, momentum %g%@)", lr, m, e.realTuned ? ", tuned on validation" : "")
                }
            }
            if let steps = e.steps {
                text += " (\(steps) steps" + (e.iteration.map { ", checkpoint of meta-iteration \($0))" } ?? ")")
            }
            facts.append(("gtn evaluate", text))
        }
        out += "<div class=\"run-body\"><div>"
        out +=
            "<table class=\"facts\"><tbody>"
            + facts.map { "<tr><td>\(escapeHTML($0.0))</td><td>\(escapeHTML($0.1))</td></tr>" }.joined()
            + "</tbody></table>\n"
        out +=
            "<details><summary>Full configuration (config.json)</summary><pre>\(escapeHTML(run.configText))</pre>"
            + "</details></div>\n"

        out += "<div><h3>Generated samples</h3>\n"
        guard let latest = run.samples.last else {
            let why = run.teacher == "real" ? "A real-data teacher generates no samples." : "No sample grids yet."
            return out + "<p class=\"meta\">\(why)</p></div></div></section>\n"
        }
        // Twice the natural size with pixelated scaling: 28-pixel digits are unreadable otherwise.
        out +=
            "<figure class=\"latest\"><img alt=\"samples at meta-iteration \(latest.iteration)\" "
            + "width=\"\(2 * latest.width)\" height=\"\(2 * latest.height)\" src=\"\(latest.dataURI)\">"
        out +=
            "<figcaption>Meta-iteration \(latest.iteration): one column per class, one row per inner step."
            + "</figcaption></figure></div></div>\n"
        if run.samples.count > 1 {
            let shown = run.samples.suffix(8)
            out +=
                "<p class=\"meta\">"
                + (run.samples.count > shown.count
                    ? "The latest \(shown.count) of \(run.samples.count) grids:" : "All grids:")
                + "</p>\n<div class=\"thumbs\">"
            for grid in shown {
                out +=
                    "<figure><img alt=\"samples at meta-iteration \(grid.iteration)\" src=\"\(grid.dataURI)\">"
                    + "<figcaption>iteration \(grid.iteration)</figcaption></figure>"
            }
            out += "</div>\n"
        }
        return out + "</section>\n"
    }

    /// Config values as the file has them: integers without a decimal point.
    func display(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "—"
        case let s as String: return s
        case let n as NSNumber:
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case let v?: return "\(v)"
        }
    }
}
