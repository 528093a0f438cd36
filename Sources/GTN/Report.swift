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

public enum RunReport {
    /// The report as one HTML document. Throws a `ReportError` for a missing run directory or a
    /// malformed file in one; a run that has not evaluated (or even meta-trained) yet is fine.
    public static func html(runs: [String]) throws -> String {
        guard !runs.isEmpty else { throw ReportError(path: "(no run directories)", problem: "give at least one run directory") }
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

// MARK: - Reading a run directory

private struct MetricRow {
    var iteration: Int
    var metaLoss, metaAccuracy, meanInnerLearningRate, meanInnerMomentum, metaLearningRate, gradientNorm, seconds: Double?
}

private struct EvaluationRow {
    var iteration: Int
    var testAccuracy, realDataTestAccuracy, seconds: Double?
    var validationPerStep, realDataValidationPerStep: [Double]
}

private struct SampleGrid {
    var iteration: Int
    var file: String
    var png: Data
    var width: Int
    var height: Int
    var dataURI: String { "data:image/png;base64," + png.base64EncodedString() }
}

/// What `gtn evaluate` wrote (evaluate.json).
private struct EvaluateSummary {
    var iteration, learners, innerSteps, steps, batchSize: Int?
    var gtnPerStep, gtnPerStepSD, realPerStep, gtnFinal, realFinal, ensembleBySize: [Double]?
}

/// One JSON object (a config, a JSON-lines row) with typed accessors whose errors name the file,
/// the line and the key.
private struct JSONFields {
    let object: [String: Any]
    let path: String
    let line: Int?

    func error(_ key: String, _ problem: String) -> ReportError {
        ReportError(path: path, line: line, problem: "\"\(key)\" \(problem)")
    }

    /// nil when the key is absent or null: older and newer runs write different sets of fields.
    func number(_ key: String) throws -> Double? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !(value is String) else { throw error(key, "is not a number (got \(preview(value)))") }
        return n.doubleValue
    }

    func integer(_ key: String) throws -> Int? {
        guard let d = try number(key) else { return nil }
        guard d == d.rounded(), abs(d) < 1e15 else { throw error(key, "is not an integer (got \(d))") }
        return Int(d)
    }

    func numbers(_ key: String) throws -> [Double]? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let array = value as? [Any] else { throw error(key, "is not an array of numbers (got \(preview(value)))") }
        return try array.enumerated().map { i, element in
            guard let n = element as? NSNumber, !(element is String) else {
                throw error(key, "element \(i) is not a number (got \(preview(element)))")
            }
            return n.doubleValue
        }
    }

    func required<T>(_ key: String, _ value: T?) throws -> T {
        guard let value else { throw error(key, "is missing") }
        return value
    }
}

private func preview(_ value: Any) -> String {
    let text = "\(value)".replacingOccurrences(of: "\n", with: " ")
    return text.count > 60 ? String(text.prefix(60)) + "…" : text
}

private struct RunData {
    let directory: String
    /// The label's first part: the directory's name, or its path when names clash.
    var name: String
    let config: [String: Any]
    let configText: String
    let metrics: [MetricRow]
    let evaluations: [EvaluationRow]
    let samples: [SampleGrid]
    let evaluation: EvaluateSummary?
    /// Things worth telling the reader that are not errors (a row still being written).
    let notes: [String]
    /// The data set the run recorded (data.json); nil for runs made before runs recorded it.
    var data: DataRecord? = nil

    var teacher: String { config["teacher"] as? String ?? "gtn" }
    /// Only a GTN draws its noise from a curriculum; the other teachers have none.
    var curriculum: String { teacher == "gtn" ? config["curriculum"] as? String ?? "?" : "-" }
    var learner: [String: Any] { config["learner"] as? [String: Any] ?? [:] }
    var learnerKind: String { learner["kind"] as? String ?? "?" }
    var weightNorm: String {
        guard let v = learner["weightNorm"] else { return "?" }
        return (v as? Bool).map { $0 ? "on" : "off" } ?? "?"
    }
    var innerSteps: Int? { (config["innerSteps"] as? NSNumber)?.intValue }
    var metaIterations: Int? { (config["metaIterations"] as? NSNumber)?.intValue }
    var label: String { teacher == "gtn" ? "\(name) (\(teacher), \(curriculum))" : "\(name) (\(teacher))" }
    /// What the learner of an evaluation was trained on, in legends.
    var taughtName: String {
        switch teacher {
        case "gtn": return "GTN-taught"
        case "real": return "real data, meta-learned lr"
        default: return "\(teacher)-taught"
        }
    }
    var iterationsDone: Int { metrics.map { $0.iteration + 1 }.max() ?? 0 }

    static func load(_ directory: String) throws -> RunData {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ReportError(path: directory, problem: "no such run directory")
        }
        guard isDirectory.boolValue else {
            throw ReportError(path: directory, problem: "not a directory (expected a run directory written by gtn train)")
        }
        let base = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let configPath = base + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ReportError(path: configPath, problem: "missing: \(directory) is not a run directory written by gtn train")
        }
        let configData = try read(configPath)
        guard let config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
            throw ReportError(path: configPath, problem: "not a JSON object")
        }
        var notes: [String] = []
        let metrics = try jsonLines(base + "/metrics.jsonl", notes: &notes).map { f in
            MetricRow(iteration: try f.required("iteration", f.integer("iteration")),
                      metaLoss: try f.number("metaLoss"), metaAccuracy: try f.number("metaAccuracy"),
                      meanInnerLearningRate: try f.number("meanInnerLearningRate"),
                      meanInnerMomentum: try f.number("meanInnerMomentum"),
                      metaLearningRate: try f.number("metaLearningRate"), gradientNorm: try f.number("gradientNorm"),
                      seconds: try f.number("seconds"))
        }
        let evaluations = try jsonLines(base + "/evaluations.jsonl", notes: &notes).map { f in
            EvaluationRow(iteration: try f.required("iteration", f.integer("iteration")),
                          testAccuracy: try f.number("testAccuracy"), realDataTestAccuracy: try f.number("realDataTestAccuracy"),
                          seconds: try f.number("seconds"),
                          validationPerStep: try f.numbers("validationPerStep") ?? [],
                          realDataValidationPerStep: try f.numbers("realDataValidationPerStep") ?? [])
        }
        var data: DataRecord?
        do { data = try DataRecord.load(runDirectory: base) } catch { notes.append((error as? ConfigError)?.message ?? "\(error)") }
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return RunData(directory: directory, name: name, config: config,
                       configText: String(decoding: configData, as: UTF8.self),
                       metrics: metrics, evaluations: evaluations, samples: try sampleGrids(base + "/samples"),
                       evaluation: try evaluateSummary(base + "/evaluate.json"), notes: notes, data: data)
    }

    static func read(_ path: String) throws -> Data {
        do { return try readFile(path) } catch let e as FileError {
            throw ReportError(path: path, problem: e.errno.map { "cannot read it (\(String(cString: strerror($0))))" } ?? e.message)
        }
    }

    /// The rows of a JSON-lines file; an absent file has none yet. A training process appends each
    /// row with one write, so an unterminated, unparsable last line is a row being written: it is
    /// left out (with a note) rather than failing a report of a live run.
    static func jsonLines(_ path: String, notes: inout [String]) throws -> [JSONFields] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = [UInt8](try read(path))
        var rows: [JSONFields] = []
        var start = 0, lineNumber = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            let line = bytes[start..<end]
            lineNumber += 1
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                if end == bytes.count {
                    notes.append("\(path): line \(lineNumber) is incomplete (still being written?) and was left out")
                    break
                }
                throw ReportError(path: path, line: lineNumber,
                                  problem: "not a JSON object: \(preview(String(decoding: line, as: UTF8.self)))")
            }
            rows.append(JSONFields(object: object, path: path, line: lineNumber))
        }
        return rows
    }

    static func sampleGrids(_ directory: String) throws -> [SampleGrid] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ReportError(path: directory, problem: "cannot list the directory")
        }
        // Only iteration-N.png: atomic writes leave hidden .iteration-N.png.tmp-* files in passing.
        var grids: [SampleGrid] = []
        for name in names where name.hasPrefix("iteration-") && name.hasSuffix(".png") {
            guard let iteration = Int(name.dropFirst("iteration-".count).dropLast(".png".count)) else { continue }
            let path = directory + "/" + name
            let png = try read(path)
            guard let size = pngSize(png) else { throw ReportError(path: path, problem: "not a PNG image") }
            grids.append(SampleGrid(iteration: iteration, file: path, png: png, width: size.width, height: size.height))
        }
        return grids.sorted { $0.iteration < $1.iteration }
    }

    /// Width and height from the IHDR chunk, which the PNG format requires to come first.
    static func pngSize(_ png: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](png.prefix(24))
        guard b.count == 24, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], b[12..<16] == [0x49, 0x48, 0x44, 0x52] else { return nil }
        let be = { (s: ArraySlice<UInt8>) in s.reduce(0) { $0 << 8 | Int($1) } }
        return (be(b[16..<20]), be(b[20..<24]))
    }

    static func evaluateSummary(_ path: String) throws -> EvaluateSummary? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: try read(path))) as? [String: Any] else {
            throw ReportError(path: path, problem: "not a JSON object")
        }
        let f = JSONFields(object: object, path: path, line: nil)
        return EvaluateSummary(iteration: try f.integer("iteration"), learners: try f.integer("learners"),
                               innerSteps: try f.integer("innerSteps"), steps: try f.integer("steps"),
                               batchSize: try f.integer("batchSize"), gtnPerStep: try f.numbers("gtnPerStep"),
                               gtnPerStepSD: try f.numbers("gtnPerStepSD"), realPerStep: try f.numbers("realPerStep"),
                               gtnFinal: try f.numbers("gtnFinal"), realFinal: try f.numbers("realFinal"),
                               ensembleBySize: try f.numbers("ensembleBySize"))
    }
}

// MARK: - SVG line charts

/// Escapes text for HTML and SVG content and attribute values.
private func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

/// Tableau's 10 colours: distinguishable, and still tellable apart by most colour-blind readers
/// when paired with the dash patterns below.
private let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

/// Line styles: runs are told apart by colour, the kinds of line within a run by dash pattern.
private enum Dash {
    case solid, dashed, dotted
    var attribute: String {
        switch self {
        case .solid: return ""
        case .dashed: return " stroke-dasharray=\"6 4\""
        case .dotted: return " stroke-dasharray=\"2 3\""
        }
    }
}

private struct ChartSeries {
    var label: String
    /// Identifies the series in the SVG (`data-series`), for tests and for anyone scraping the page.
    var key: String
    var points: [(x: Double, y: Double)]
    var color: String
    var dash = Dash.solid
    var width = 2.0
    var opacity = 1.0
    /// Dots on the data points help only while they are few; a single point always gets one, since
    /// a one-point line is invisible.
    var dots = true
    var inLegend = true
    /// A shaded ±band around the line (standard deviation over learners).
    var band: [(x: Double, low: Double, high: Double)] = []
    /// A shorter text for the legend than for the points' tooltips.
    var legendLabel: String?
}

/// A tiny line chart: axes with nice tick labels, a legend, optional vertical markers.
private struct LineChart {
    var key: String
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [ChartSeries]
    /// A fixed y range (accuracies: 0...100); otherwise the data's range, rounded to ticks.
    var yRange: ClosedRange<Double>?
    var yIncludesZero = false
    /// Bounds an automatic range may not cross (an accuracy axis zoomed in on the data).
    var yLimits: ClosedRange<Double>?
    var integerX = true
    /// A span the x-axis covers whatever the data (all of meta-training so far, for evaluations
    /// that are few and far between).
    var xSpan: ClosedRange<Double>?
    var verticalMarkers: [(x: Double, label: String)] = []
    /// Legend-only entries: a key to the line styles when colours stand for runs.
    var legendExtras: [ChartSeries] = []

    let width = 600.0
    let plotHeight = 230.0
    let margin = (left: 66.0, right: 18.0, title: 30.0, bottom: 46.0)

    static let maxDots = 40
    static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"

    /// The plot rectangle and the maps from data to SVG coordinates.
    struct Frame {
        var x0, x1, y0, y1: Double
        var xAxis, yAxis: Axis
        func sx(_ x: Double) -> Double { x0 + (x - xAxis.low) / (xAxis.high - xAxis.low) * (x1 - x0) }
        func sy(_ y: Double) -> Double { y1 - (y - yAxis.low) / (yAxis.high - yAxis.low) * (y1 - y0) }
    }

    /// Only finite points are drawn: a diverged run's NaN loss must not break the whole chart.
    func visiblePoints(_ s: ChartSeries) -> [(x: Double, y: Double)] { s.points.filter { $0.x.isFinite && $0.y.isFinite } }

    // Styles are presentation attributes rather than page CSS, so that a chart copied out of the
    // page (or opened by an SVG tool) looks the same.
    func svg() -> String {
        let legend = legendLayout()
        let top = margin.title + legend.height
        let height = top + plotHeight + margin.bottom
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"\(escapeHTML(key))\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"\(Self.fontFamily)\" role=\"img\" aria-label=\"\(escapeHTML(title))\">\n"
        out += text(title, x: width / 2, y: 20, size: 14, weight: "600", color: "#222") + "\n" + legend.svg
        var rectangle = (x0: margin.left, x1: width - margin.right, y0: top, y1: top + plotHeight)
        // Wide tick labels ("0.00012") push the plot right, so they never run into the rotated
        // axis title at the left edge (about 6.5 units a character at 11 px, 24 for the title).
        if let ticks = frame(rectangle)?.yAxis, let widest = ticks.ticks.map({ ticks.label($0).count }).max() {
            rectangle.x0 = max(margin.left, 6 + 6.5 * Double(widest) + 24)
        }
        guard let frame = frame(rectangle) else {
            out += frameRectangle(rectangle)
            return out + text("no data yet", x: (rectangle.x0 + rectangle.x1) / 2, y: top + plotHeight / 2, size: 15, color: "#999") + "\n</svg>"
        }
        out += axes(frame) + frameRectangle(rectangle) + markers(frame)
        // Controls under the taught learners: where a pair coincides, the larger hollow dot
        // stays visible as a ring around the filled one.
        for s in series.filter({ $0.dash != .solid }) + series.filter({ $0.dash == .solid }) { out += seriesSVG(s, frame) }
        return out + "</svg>"
    }

    /// nil when there is nothing to plot.
    func frame(_ r: (x0: Double, x1: Double, y0: Double, y1: Double)) -> Frame? {
        let points = series.flatMap(visiblePoints)
        guard !points.isEmpty else { return nil }
        let xs = points.map(\.x) + verticalMarkers.map(\.x) + (xSpan.map { [$0.lowerBound, $0.upperBound] } ?? [])
        let ys = points.map(\.y) + series.flatMap { $0.band.flatMap { [$0.low, $0.high] } }.filter(\.isFinite)
        let xAxis = Axis.forX(min: xs.min()!, max: xs.max()!, integer: integerX)
        var yAxis = yRange.map { Axis.fixed($0) } ?? Axis.forY(min: ys.min()!, max: ys.max()!, includeZero: yIncludesZero)
        if let limits = yLimits { (yAxis.low, yAxis.high) = (max(yAxis.low, limits.lowerBound), min(yAxis.high, limits.upperBound)) }
        return Frame(x0: r.x0, x1: r.x1, y0: r.y0, y1: r.y1, xAxis: xAxis, yAxis: yAxis)
    }

    func text(_ content: String, x: Double, y: Double, anchor: String = "middle", size: Double = 12, weight: String? = nil,
              color: String = "#333", transform: String? = nil) -> String {
        let position = transform.map { "transform=\"\($0)\"" } ?? "x=\"\(f(x))\" y=\"\(f(y))\""
        return "<text \(position) text-anchor=\"\(anchor)\" font-size=\"\(f(size))\"" + (weight.map { " font-weight=\"\($0)\"" } ?? "")
            + " fill=\"\(color)\">\(escapeHTML(content))</text>"
    }

    func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ style: String) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" \(style)/>"
    }

    func frameRectangle(_ r: (x0: Double, x1: Double, y0: Double, y1: Double)) -> String {
        "<rect x=\"\(f(r.x0))\" y=\"\(f(r.y0))\" width=\"\(f(r.x1 - r.x0))\" height=\"\(f(r.y1 - r.y0))\" fill=\"none\" stroke=\"#999\"/>\n"
    }

    /// Grid lines, ticks, tick labels and axis titles: drawn first, so that the data lies on top.
    func axes(_ fr: Frame) -> String {
        var out = ""
        for t in fr.yAxis.ticks {
            out += line(fr.x0, fr.sy(t), fr.x1, fr.sy(t), "stroke=\"#e6e6e6\"")
            out += text(fr.yAxis.label(t), x: fr.x0 - 6, y: fr.sy(t) + 4, anchor: "end", size: 11, color: "#555") + "\n"
        }
        for t in fr.xAxis.ticks {
            out += line(fr.sx(t), fr.y1, fr.sx(t), fr.y1 + 5, "stroke=\"#888\"")
            out += text(fr.xAxis.label(t), x: fr.sx(t), y: fr.y1 + 18, size: 11, color: "#555") + "\n"
        }
        out += text(xLabel, x: (fr.x0 + fr.x1) / 2, y: fr.y1 + 38) + "\n"
        out += text(yLabel, x: 0, y: 0, transform: "translate(16 \(f((fr.y0 + fr.y1) / 2))) rotate(-90)") + "\n"
        return out
    }

    /// Vertical dashed lines with a label on the side with more room.
    func markers(_ fr: Frame) -> String {
        verticalMarkers.map { m in
            let x = fr.sx(m.x), right = x > (fr.x0 + fr.x1) / 2
            return line(x, fr.y0, x, fr.y1, "stroke=\"#555\" stroke-width=\"1.2\" stroke-dasharray=\"3 3\"")
                + text(m.label, x: x + (right ? -4 : 4), y: fr.y0 + 13, anchor: right ? "end" : "start", size: 11, color: "#555") + "\n"
        }.joined()
    }

    func stroke(_ s: ChartSeries, minimumWidth: Double = 0, minimumOpacity: Double = 0) -> String {
        "stroke=\"\(s.color)\" stroke-width=\"\(f(max(s.width, minimumWidth)))\"" + s.dash.attribute
            + (s.opacity < 1 ? " stroke-opacity=\"\(f(max(s.opacity, minimumOpacity)))\"" : "")
    }

    /// Hollow dots for dashed (control) series, so that the pairing survives greyscale printing.
    func dot(_ s: ChartSeries, _ x: Double, _ y: Double, tooltip: String? = nil) -> String {
        let solid = s.dash == .solid
        return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(solid ? "3.2" : "4.5")\" fill=\"\(solid ? s.color : "#fff")\" stroke=\"\(s.color)\" stroke-width=\"1.5\">"
            + (tooltip.map { "<title>\(escapeHTML($0))</title>" } ?? "") + "</circle>"
    }

    func seriesSVG(_ s: ChartSeries, _ fr: Frame) -> String {
        let points = visiblePoints(s)
        guard !points.isEmpty else { return "" }
        var out = "<g>"
        let band = s.band.filter { $0.x.isFinite && $0.low.isFinite && $0.high.isFinite }
        if !band.isEmpty {
            let outline = band.map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.low)))" } + band.reversed().map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.high)))" }
            out += "<polygon points=\"\(outline.joined(separator: " "))\" fill=\"\(s.color)\" fill-opacity=\"0.15\" stroke=\"none\"/>"
        }
        let coordinates = points.map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.y)))" }.joined(separator: " ")
        out += "<polyline data-series=\"\(escapeHTML(s.key))\" fill=\"none\" \(stroke(s)) stroke-linejoin=\"round\" points=\"\(coordinates)\"/>"
        if points.count == 1 || (s.dots && points.count <= Self.maxDots) {
            for p in points {
                out += dot(s, fr.sx(p.x), fr.sy(p.y), tooltip: "\(s.label): \(fr.xAxis.label(p.x, exact: true)), \(fr.yAxis.label(p.y, exact: true))")
            }
        }
        return out + "</g>\n"
    }

    /// Legend entries flow left to right and wrap; the chart grows by the rows it needs.
    func legendLayout() -> (svg: String, height: Double) {
        let entries = series.filter(\.inLegend).map { ($0, visiblePoints($0).isEmpty) } + legendExtras.map { ($0, false) }
        guard !entries.isEmpty else { return ("", 0) }
        let rowHeight = 18.0, available = width - margin.left - margin.right
        var x = 0.0, row = 0, out = ""
        for (n, (s, empty)) in entries.enumerated() {
            let label = (s.legendLabel ?? s.label) + (empty ? " (no data yet)" : "")
            // The style key gets a row of its own, apart from the runs.
            if n == entries.count - legendExtras.count && x > 0 { x = 0; row += 1 }
            // The page has no font metrics: 7 px a character is DejaVu Sans's average at 12 px,
            // the widest of the usual fallbacks.
            let entryWidth = 28 + Double(label.count) * 7
            if x > 0 && x + entryWidth > available { x = 0; row += 1 }
            let y = margin.title + 4 + Double(row) * rowHeight, x0 = margin.left + x
            out += "<g>" + line(x0, y, x0 + 22, y, stroke(s, minimumWidth: 2, minimumOpacity: 0.5))
            if s.dots { out += dot(s, x0 + 11, y) }
            out += text(label, x: x0 + 27, y: y + 4, anchor: "start") + "</g>\n"
            x += entryWidth + 14
        }
        return (out, Double(row + 1) * rowHeight + 6)
    }
}

/// One axis: its range and tick values at a "nice" spacing (1, 2 or 5 times a power of ten).
private struct Axis {
    var low: Double
    var high: Double
    var step: Double
    var ticks: [Double] {
        var out: [Double] = []
        var t = (low / step).rounded(.up) * step
        while t <= high + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func niceStep(_ span: Double, ticks: Int, integer: Bool) -> Double {
        let raw = span / Double(ticks)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        // Rounded to the nearest nice number (Heckbert, Graphics Gems I) rather than up, so that
        // the tick count stays near the target instead of dropping to half of it.
        let step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude
        return integer ? max(1, step.rounded()) : step
    }

    static func fixed(_ range: ClosedRange<Double>) -> Axis {
        Axis(low: range.lowerBound, high: range.upperBound, step: niceStep(range.upperBound - range.lowerBound, ticks: 5, integer: false))
    }

    /// The data's exact span (meta-iterations start and end where they do); one point gets a
    /// little room either side so that it is not drawn on the frame.
    static func forX(min: Double, max: Double, integer: Bool) -> Axis {
        let (low, high) = min < max ? (min, max) : (min - 1, max + 1)
        return Axis(low: low, high: high, step: niceStep(high - low, ticks: 6, integer: integer))
    }

    /// Padded and rounded out to whole ticks, so that no line runs along the frame.
    static func forY(min: Double, max: Double, includeZero: Bool) -> Axis {
        var (low, high) = (includeZero ? Swift.min(min, 0) : min, includeZero ? Swift.max(max, 0) : max)
        if high - low < 1e-12 * Swift.max(abs(high), 1) {
            let pad = abs(high) > 0 ? abs(high) * 0.1 : 1
            (low, high) = (low - pad, high + pad)
        }
        let pad = (high - low) * 0.05
        if !(includeZero && low == 0) { low -= pad }
        high += pad
        let step = niceStep(high - low, ticks: 5, integer: false)
        // Data that are never negative (losses, seconds, learning rates) get no negative axis:
        // the padding of a spiky loss (0.3 to 400) used to open the axis down to -20 or -100.
        let floor = min >= 0 ? 0 : -Double.infinity
        return Axis(low: Swift.max((low / step).rounded(.down) * step, floor), high: (high / step).rounded(.up) * step, step: step)
    }

    /// Tick labels with just the decimals the spacing needs; `exact` (for tooltips) adds two.
    func label(_ v: Double, exact: Bool = false) -> String {
        var decimals = 0, s = step
        while decimals < 8 && abs(s - s.rounded()) > 1e-9 * Swift.max(1, abs(s)) { s *= 10; decimals += 1 }
        return String(format: "%.\(decimals + (exact ? 2 : 0))f", v == 0 ? 0 : v)
    }
}

/// Coordinates with one decimal: enough on a 600-unit canvas, and keeps the page small.
private func f(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
}

/// Trailing moving average: point i averages the last `window` values up to and including i.
private func movingAverage(_ points: [(x: Double, y: Double)], window: Int) -> [(x: Double, y: Double)] {
    var out: [(x: Double, y: Double)] = []
    var sum = 0.0
    for (i, p) in points.enumerated() {
        sum += p.y
        if i >= window { sum -= points[i - window].y }
        out.append((p.x, sum / Double(min(i + 1, window))))
    }
    return out
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
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;color:#222;background:#fff}
    h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
    .meta{color:#666;font-size:13px;margin:0 0 12px}.note{background:#fff6dd;border:1px solid #e8d48b;padding:6px 10px;font-size:13px}
    table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f4f4f4}
    td.num{text-align:right;font-variant-numeric:tabular-nums}
    .swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
    .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
    figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:6px}figcaption{font-size:12px;color:#555;padding:2px 6px 4px}
    svg.chart{width:100%;height:auto;display:block}
    .facts td:first-child{color:#555;white-space:nowrap}.run{margin-top:24px}.summary td:first-child{white-space:nowrap}
    .run-body{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}.run-body>div{min-width:320px}
    .latest{display:inline-block}.latest img{image-rendering:pixelated;max-width:100%;height:auto;border:1px solid #ccc}
    .thumbs{display:flex;gap:10px;overflow-x:auto;padding-bottom:6px}.thumbs figure{flex:none;text-align:center}
    .thumbs img{height:150px;image-rendering:pixelated}
    details{margin:8px 0}pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:8px;font-size:12px;overflow-x:auto}
    """

    // MARK: Summary

    func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "—" }

    func summaryTable() -> String {
        let hasEvaluate = runs.contains { $0.evaluation != nil }
        var out = "<h2>Summary</h2>\n<table class=\"summary\"><thead><tr><th>run</th><th>teacher</th><th>curriculum</th><th>learner</th><th>weight norm</th>"
            + "<th>iterations done</th><th>final taught-learner test accuracy</th><th>final real-data control accuracy</th><th>mean s / iteration</th>"
            + (hasEvaluate ? "<th>gtn evaluate: mean learner (ensemble)</th>" : "") + "</tr></thead><tbody>\n"
        for (i, run) in runs.enumerated() {
            let last = run.evaluations.last
            let at = last.map { " <small>(it. \($0.iteration))</small>" } ?? ""
            let seconds = run.metrics.compactMap(\.seconds)
            let meanSeconds = seconds.isEmpty ? "—" : String(format: "%.2f s", seconds.reduce(0, +) / Double(seconds.count))
            let total = run.metaIterations.map { " / \($0)" } ?? ""
            out += "<tr><td><span class=\"swatch\" style=\"background:\(color(i))\"></span>\(escapeHTML(run.name))</td>"
            out += "<td>\(escapeHTML(run.teacher))</td><td>\(escapeHTML(run.curriculum))</td><td>\(escapeHTML(run.learnerKind))</td><td>\(escapeHTML(run.weightNorm))</td>"
            out += "<td class=\"num\">\(run.iterationsDone)\(total)</td>"
            out += "<td class=\"num\">\(percent(last?.testAccuracy))\(last?.testAccuracy == nil ? "" : at)</td>"
            out += "<td class=\"num\">\(percent(last?.realDataTestAccuracy))\(last?.realDataTestAccuracy == nil ? "" : at)</td>"
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
    func noisyChart(key: String, title: String, yLabel: String, scale: Double, yRange: ClosedRange<Double>?,
                    _ value: @escaping (MetricRow) -> Double?) -> LineChart {
        var series: [ChartSeries] = []
        for (i, run) in runs.enumerated() {
            let raw = perIteration(run, value).map { ($0.x, $0.y * scale) }
            let suffix = single ? "" : "-\(i)"
            series.append(ChartSeries(label: single ? "per meta-iteration" : run.label, key: key + suffix, points: raw,
                                      color: color(i), width: 1.2, opacity: 0.35, dots: false, inLegend: single))
            series.append(ChartSeries(label: single ? "moving average over 10" : run.label, key: key + "-average" + suffix,
                                      points: movingAverage(raw, window: 10), color: color(i), width: 2.2, dots: false))
        }
        return LineChart(key: key, title: title, xLabel: "meta-iterations done", yLabel: yLabel, series: series, yRange: yRange)
    }

    func simpleChart(key: String, title: String, yLabel: String, includeZero: Bool, _ value: @escaping (MetricRow) -> Double?) -> LineChart {
        let series = runs.enumerated().map { i, run in
            ChartSeries(label: single ? title : run.label, key: key + (single ? "" : "-\(i)"), points: perIteration(run, value),
                        color: color(i), width: 1.8, dots: false, inLegend: !single)
        }
        return LineChart(key: key, title: title, xLabel: "meta-iterations done", yLabel: yLabel, series: series, yIncludesZero: includeZero)
    }

    /// A taught learner (solid) and its real-data control (dashed) per run. With one run the two
    /// also differ in colour; with several, colour is the run, and the legend has one entry per
    /// run plus `styleKey` (twice as many entries with long labels would not fit).
    func pairedSeries(key: String, _ run: RunData, _ i: Int, taught: [(x: Double, y: Double)], real: [(x: Double, y: Double)],
                      note: String = "") -> [ChartSeries] {
        let suffix = single ? "" : "-\(i)"
        if single {
            return [ChartSeries(label: "\(run.taughtName) learner", key: key + "-taught", points: taught, color: color(0)),
                    ChartSeries(label: "real-data control", key: key + "-real", points: real, color: color(1), dash: .dashed)]
        }
        return [ChartSeries(label: "\(run.label): \(run.taughtName)", key: key + "-taught" + suffix, points: taught, color: color(i),
                            legendLabel: run.label + note),
                ChartSeries(label: "\(run.label): real-data control", key: key + "-real" + suffix, points: real, color: color(i),
                            dash: .dashed, inLegend: false)]
    }

    var styleKey: [ChartSeries] {
        single ? [] : [ChartSeries(label: "taught learner", key: "", points: [], color: "#555"),
                       ChartSeries(label: "real-data control", key: "", points: [], color: "#555", dash: .dashed)]
    }

    func trainingCharts() -> [(LineChart, String)] {
        var charts: [(LineChart, String)] = []
        charts.append((noisyChart(key: "meta-loss", title: "Meta-loss", yLabel: "cross-entropy on real data (nats)", scale: 1, yRange: nil) { $0.metaLoss },
                       "Loss on a real batch of the learner trained on generated data, per meta-iteration (faint) and its moving average over 10 (bold)."))
        charts.append((noisyChart(key: "meta-accuracy", title: "Meta-accuracy", yLabel: "accuracy on the meta-batch (%)", scale: 100, yRange: 0...100) { $0.metaAccuracy },
                       "Accuracy on the real meta-batch of the learner at the end of each inner loop."))

        let accuracy = runs.enumerated().flatMap { i, run in
            pairedSeries(key: "test-accuracy", run, i,
                         taught: run.evaluations.compactMap { e in e.testAccuracy.map { (Double(e.iteration), 100 * $0) } },
                         real: run.evaluations.compactMap { e in e.realDataTestAccuracy.map { (Double(e.iteration), 100 * $0) } })
        }
        charts.append((LineChart(key: "test-accuracy", title: "Test accuracy of fresh learners over meta-training", xLabel: "meta-iterations done",
                                 yLabel: "test accuracy (%)", series: accuracy, yRange: 0...100,
                                 xSpan: 1...Double(max(runs.map(\.iterationsDone).max()!, 1)), legendExtras: styleKey),
                       "At each evaluation a freshly initialised learner is trained for T steps on the teacher's data (solid) and, as a control, for T steps on real data (dashed); cf. Fig. 2a of the paper."))

        let perStep = runs.enumerated().flatMap { i, run -> [ChartSeries] in
            let last = run.evaluations.last
            let steps = { (v: [Double]) in v.enumerated().map { (Double($0.offset + 1), 100 * $0.element) } }
            return pairedSeries(key: "validation-per-step", run, i, taught: steps(last?.validationPerStep ?? []),
                                real: steps(last?.realDataValidationPerStep ?? []), note: last.map { " @\($0.iteration)" } ?? "")
        }
        let lastIteration = single ? runs[0].evaluations.last.map { " (evaluation at meta-iteration \($0.iteration))" } ?? "" : " (last evaluation)"
        charts.append((LineChart(key: "validation-per-step", title: "Validation accuracy per inner step" + lastIteration, xLabel: "inner training step",
                                 yLabel: "validation accuracy (%)", series: perStep, yRange: 0...100, legendExtras: styleKey),
                       "Accuracy after each inner step of the learners of the latest evaluation: taught (solid) vs real data (dashed); cf. Fig. 2b of the paper."))

        charts.append((simpleChart(key: "inner-learning-rate", title: "Mean inner learning rate", yLabel: "learning rate", includeZero: false) { $0.meanInnerLearningRate },
                       "The meta-learned inner learning rate, averaged over the inner steps."))
        charts.append((simpleChart(key: "inner-momentum", title: "Mean inner momentum", yLabel: "momentum", includeZero: false) { $0.meanInnerMomentum },
                       "The meta-learned inner momentum, averaged over the inner steps."))
        charts.append((simpleChart(key: "seconds", title: "Time per meta-iteration", yLabel: "seconds", includeZero: true) { $0.seconds },
                       "Wall-clock seconds per meta-iteration (evaluations and checkpoints not included)."))
        return charts
    }

    func evaluateCharts() -> [(LineChart, String)] {
        let evaluated = runs.enumerated().filter { $0.element.evaluation != nil }
        guard !evaluated.isEmpty else { return [] }
        var perStep: [ChartSeries] = [], ensemble: [ChartSeries] = []
        var markers: [(x: Double, label: String)] = []
        for (i, run) in evaluated {
            let e = run.evaluation!
            let steps = { (v: [Double]?) in (v ?? []).enumerated().map { (Double($0.offset + 1), 100 * $0.element) } }
            var pair = pairedSeries(key: "evaluate-per-step", run, i, taught: steps(e.gtnPerStep), real: steps(e.realPerStep))
            if let m = e.gtnPerStep, let sd = e.gtnPerStepSD, sd.count == m.count {
                pair[0].band = zip(m, sd).enumerated().map { (Double($0.offset + 1), 100 * ($0.element.0 - $0.element.1), 100 * ($0.element.0 + $0.element.1)) }
            }
            perStep += pair
            if let t = e.innerSteps ?? run.innerSteps, !markers.contains(where: { $0.x == Double(t) }) {
                markers.append((Double(t), "meta-trained for T = \(t)"))
            }
            let sizes = (e.ensembleBySize ?? []).enumerated().map { (Double($0.offset + 1), 100 * $0.element) }
            let suffix = single ? "" : "-\(i)"
            ensemble.append(ChartSeries(label: single ? "ensemble of the first k learners" : "\(run.label): ensemble", key: "ensemble" + suffix,
                                        points: sizes, color: color(i), legendLabel: single ? nil : run.label))
            let span = sizes.isEmpty ? [1.0] : [1.0, Double(sizes.count)]
            if let finals = e.gtnFinal, !finals.isEmpty {
                ensemble.append(ChartSeries(label: single ? "mean single learner" : "\(run.label): mean single learner", key: "ensemble-single" + suffix,
                                            points: span.map { ($0, 100 * mean(finals)) }, color: color(i), dash: .dashed, width: 1.5, dots: false, inLegend: single))
            }
            if let finals = e.realFinal, !finals.isEmpty {
                ensemble.append(ChartSeries(label: single ? "mean real-data learner" : "\(run.label): mean real-data learner", key: "ensemble-real" + suffix,
                                            points: span.map { ($0, 100 * mean(finals)) }, color: single ? color(1) : color(i), dash: .dotted, width: 1.5, dots: false, inLegend: single))
            }
        }
        let learners = evaluated.compactMap { $0.element.evaluation?.learners }.max()
        let batches = Set(evaluated.compactMap { $0.element.evaluation?.batchSize })
        let batch = batches.count == 1 ? " of \(batches.first!) examples" : ""
        return [
            (LineChart(key: "evaluate-per-step", title: "Test accuracy per inner step", xLabel: "inner training step",
                       yLabel: "test accuracy (%)", series: perStep, yRange: 0...100, verticalMarkers: markers, legendExtras: styleKey),
             "Mean over \(learners.map { "\($0) " } ?? "")fresh learners (band: ±1 standard deviation) taught by the teacher (solid) and trained on real data (dashed), in steps\(batch); steps past the T it was meta-trained for repeat its learned schedule."),
            (LineChart(key: "ensemble", title: "Ensemble accuracy", xLabel: "learners in the ensemble",
                       yLabel: "test accuracy (%)", series: ensemble, yLimits: 0...100,
                       legendExtras: single ? [] : [ChartSeries(label: "ensemble", key: "", points: [], color: "#555"),
                                                    ChartSeries(label: "mean single learner", key: "", points: [], color: "#555", dash: .dashed, dots: false),
                                                    ChartSeries(label: "mean real-data learner", key: "", points: [], color: "#555", dash: .dotted, dots: false)]),
             "Test accuracy of the ensemble (summed probabilities) of the first k taught learners, against the mean accuracy of a single taught learner (dashed) and of a real-data control learner (dotted). The y-axis is zoomed in on the data."),
        ]
    }

    // MARK: Per-run sections

    func runSection(_ run: RunData, index: Int) -> String {
        var out = "<section class=\"run\"><h2><span class=\"swatch\" style=\"background:\(color(index))\"></span>\(escapeHTML(run.label))</h2>\n"
        out += "<p class=\"meta\"><code>\(escapeHTML(run.directory))</code></p>\n"
        var facts: [(String, String)] = [("data", run.data?.summary ?? "not recorded (a run made before data.json)"), ("teacher", run.teacher)]
        if let kind = run.config["generatorKind"] as? String { facts.append(("generator", kind)) }
        facts += [("curriculum", run.curriculum), ("learner", run.learnerKind), ("weight norm", run.weightNorm),
                  ("inner steps T", display(run.config["innerSteps"])), ("batch size B", display(run.config["batchSize"])),
                  ("meta-iterations", "\(run.iterationsDone) done of \(display(run.config["metaIterations"]))"),
                  ("seed", display(run.config["seed"]))]
        if let e = run.evaluation, let finals = e.gtnFinal, !finals.isEmpty {
            var text = String(format: "%.2f%% mean test accuracy of %d learners", 100 * mean(finals), finals.count)
            if let ensemble = e.ensembleBySize?.last { text += String(format: ", ensemble %.2f%%", 100 * ensemble) }
            if let real = e.realFinal, !real.isEmpty { text += String(format: "; real-data control %.2f%%", 100 * mean(real)) }
            if let steps = e.steps { text += " (\(steps) steps" + (e.iteration.map { ", checkpoint of meta-iteration \($0))" } ?? ")") }
            facts.append(("gtn evaluate", text))
        }
        out += "<div class=\"run-body\"><div>"
        out += "<table class=\"facts\"><tbody>" + facts.map { "<tr><td>\(escapeHTML($0.0))</td><td>\(escapeHTML($0.1))</td></tr>" }.joined() + "</tbody></table>\n"
        out += "<details><summary>Full configuration (config.json)</summary><pre>\(escapeHTML(run.configText))</pre></details></div>\n"

        out += "<div><h3>Generated samples</h3>\n"
        guard let latest = run.samples.last else {
            let why = run.teacher == "real" ? "A real-data teacher generates no samples." : "No sample grids yet."
            return out + "<p class=\"meta\">\(why)</p></div></div></section>\n"
        }
        // Twice the natural size with pixelated scaling: 28-pixel digits are unreadable otherwise.
        out += "<figure class=\"latest\"><img alt=\"samples at meta-iteration \(latest.iteration)\" width=\"\(2 * latest.width)\" height=\"\(2 * latest.height)\" src=\"\(latest.dataURI)\">"
        out += "<figcaption>Meta-iteration \(latest.iteration): one column per class, one row per inner step.</figcaption></figure></div></div>\n"
        if run.samples.count > 1 {
            let shown = run.samples.suffix(8)
            out += "<p class=\"meta\">" + (run.samples.count > shown.count ? "The latest \(shown.count) of \(run.samples.count) grids:" : "All grids:") + "</p>\n<div class=\"thumbs\">"
            for grid in shown {
                out += "<figure><img alt=\"samples at meta-iteration \(grid.iteration)\" src=\"\(grid.dataURI)\"><figcaption>iteration \(grid.iteration)</figcaption></figure>"
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

private func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }

/// One line's worth of a run directory (`gtn runs`), read by the same code as the report.
public struct RunSummary: Sendable {
    public var directory: String
    /// "gtn, full", "real", "distillation".
    public var teacher: String
    public var learner: String
    public var data: String?
    public var innerSteps: Int?
    public var batchSize: Int?
    public var iterationsDone: Int
    public var metaIterations: Int?
    public var lastMetaLoss: Double?
    /// The last evaluation of `gtn train`: meta-iterations done, taught learner and real-data control test accuracy.
    public var lastEvaluation: (iteration: Int, taught: Double?, real: Double?)?
    /// `gtn evaluate`: mean test accuracy of its learners, and of its real-data controls.
    public var evaluate: (learners: Int, mean: Double, real: Double?)?

    /// The summary of the run in `directory`; errors name the file at fault.
    public init(directory: String) throws {
        let run = try RunData.load(directory)
        self.directory = directory
        teacher = run.teacher == "gtn" ? "gtn, \(run.curriculum)" : run.teacher
        learner = run.learnerKind
        data = run.data?.name
        innerSteps = run.innerSteps
        batchSize = (run.config["batchSize"] as? NSNumber)?.intValue
        iterationsDone = run.iterationsDone
        metaIterations = run.metaIterations
        lastMetaLoss = run.metrics.last?.metaLoss
        lastEvaluation = run.evaluations.last.map { ($0.iteration, $0.testAccuracy, $0.realDataTestAccuracy) }
        if let e = run.evaluation, let finals = e.gtnFinal, !finals.isEmpty {
            let real = e.realFinal.flatMap { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) }
            evaluate = (finals.count, finals.reduce(0, +) / Double(finals.count), real)
        }
    }

    /// The run directories in and under `root` (to `depth` levels), sorted by path: directories
    /// holding a config.json.
    public static func runDirectories(under root: String, depth: Int = 3) -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        func visit(_ path: String, _ level: Int) {
            if fm.fileExists(atPath: path + "/config.json") { found.append(path); return }
            guard level < depth, let names = try? fm.contentsOfDirectory(atPath: path) else { return }
            for name in names.sorted() where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                let child = path + "/" + name
                if fm.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue { visit(child, level + 1) }
            }
        }
        visit(root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root, 0)
        return found
    }
}
