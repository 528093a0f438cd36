import Foundation
import GTNIO

// SVG line charts for the report: data in (series of points), one self-contained <svg> out.

/// Escapes text for HTML and SVG content and attribute values.
func escapeHTML(_ text: String) -> String {
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
let palette = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]

/// Line styles: runs are told apart by colour, the kinds of line within a run by dash pattern.
enum Dash {
    case solid, dashed, dotted
    var attribute: String {
        switch self {
        case .solid: return ""
        case .dashed: return " stroke-dasharray=\"6 4\""
        case .dotted: return " stroke-dasharray=\"2 3\""
        }
    }
}

struct ChartSeries {
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
    /// How the points are drawn: joined by a line (the default), or as marks alone (a scatter plot).
    var mark = Mark.line
    /// Per-point tooltips for point marks (default: the label and the coordinates).
    var tooltips: [String]?

    enum Mark: Equatable {
        case line
        /// Circles of `radius`, filled (with `fillOpacity`), or hollow rings around other points.
        case points(radius: Double, fillOpacity: Double, ring: Bool)
    }
}

/// A tiny line chart: axes with nice tick labels, a legend, optional vertical markers.
struct LineChart {
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
    /// Bounds the x-axis may not cross (a scatter plot of percentages).
    var xLimits: ClosedRange<Double>?
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
    func visiblePoints(_ s: ChartSeries) -> [(x: Double, y: Double)] {
        s.points.filter { $0.x.isFinite && $0.y.isFinite }
    }

    // Styles are presentation attributes rather than page CSS, so that a chart copied out of the
    // page (or opened by an SVG tool) looks the same.
    func svg() -> String {
        let legend = legendLayout()
        let top = margin.title + legend.height
        let height = top + plotHeight + margin.bottom
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"\(escapeHTML(key))\" viewBox=\"0 "
            + "0 \(f(width)) \(f(height))\" "
            + "width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"\(Self.fontFamily)\" role=\"img\" "
            + "aria-label=\"\(escapeHTML(title))\">\n"
        out += text(title, x: width / 2, y: 20, size: 14, weight: "600", color: "#222") + "\n" + legend.svg
        var rectangle = (x0: margin.left, x1: width - margin.right, y0: top, y1: top + plotHeight)
        // Wide tick labels ("0.00012") push the plot right, so they never run into the rotated
        // axis title at the left edge (about 6.5 units a character at 11 px, 24 for the title).
        if let ticks = frame(rectangle)?.yAxis, let widest = ticks.ticks.map({ ticks.label($0).count }).max() {
            rectangle.x0 = max(margin.left, 6 + 6.5 * Double(widest) + 24)
        }
        guard let frame = frame(rectangle) else {
            out += frameRectangle(rectangle)
            return out
                + text(
                    "no data yet", x: (rectangle.x0 + rectangle.x1) / 2, y: top + plotHeight / 2, size: 15,
                    color: "#999") + "\n</svg>"
        }
        out += axes(frame) + frameRectangle(rectangle) + markers(frame)
        // Controls under the taught learners: where a pair coincides, the larger hollow dot
        // stays visible as a ring around the filled one.
        for s in series.filter({ $0.dash != .solid }) + series.filter({ $0.dash == .solid }) {
            out += seriesSVG(s, frame)
        }
        return out + "</svg>"
    }

    /// nil when there is nothing to plot.
    func frame(_ r: (x0: Double, x1: Double, y0: Double, y1: Double)) -> Frame? {
        let points = series.flatMap(visiblePoints)
        guard !points.isEmpty else { return nil }
        let xs = points.map(\.x) + verticalMarkers.map(\.x) + (xSpan.map { [$0.lowerBound, $0.upperBound] } ?? [])
        let ys = points.map(\.y) + series.flatMap { $0.band.flatMap { [$0.low, $0.high] } }.filter(\.isFinite)
        var xAxis = Axis.forX(min: xs.min()!, max: xs.max()!, integer: integerX)
        if let limits = xLimits {
            // A scatter plot: padded like a y-axis, so no point sits on the frame.
            xAxis = Axis.forY(min: xs.min()!, max: xs.max()!, includeZero: false)
            (xAxis.low, xAxis.high) = (max(xAxis.low, limits.lowerBound), min(xAxis.high, limits.upperBound))
        }
        var yAxis =
            yRange.map { Axis.fixed($0) } ?? Axis.forY(min: ys.min()!, max: ys.max()!, includeZero: yIncludesZero)
        if let limits = yLimits {
            (yAxis.low, yAxis.high) = (max(yAxis.low, limits.lowerBound), min(yAxis.high, limits.upperBound))
        }
        return Frame(x0: r.x0, x1: r.x1, y0: r.y0, y1: r.y1, xAxis: xAxis, yAxis: yAxis)
    }

    func text(
        _ content: String, x: Double, y: Double, anchor: String = "middle", size: Double = 12, weight: String? = nil,
        color: String = "#333", transform: String? = nil
    ) -> String {
        let position = transform.map { "transform=\"\($0)\"" } ?? "x=\"\(f(x))\" y=\"\(f(y))\""
        return "<text \(position) text-anchor=\"\(anchor)\" font-size=\"\(f(size))\""
            + (weight.map { " font-weight=\"\($0)\"" } ?? "")
            + " fill=\"\(color)\">\(escapeHTML(content))</text>"
    }

    func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ style: String) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" \(style)/>"
    }

    func frameRectangle(_ r: (x0: Double, x1: Double, y0: Double, y1: Double)) -> String {
        "<rect x=\"\(f(r.x0))\" y=\"\(f(r.y0))\" width=\"\(f(r.x1 - r.x0))\" height=\"\(f(r.y1 - r.y0))\" "
            + "fill=\"none\" stroke=\"#999\"/>\n"
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
            let x = fr.sx(m.x)
            let right = x > (fr.x0 + fr.x1) / 2
            return line(x, fr.y0, x, fr.y1, "stroke=\"#555\" stroke-width=\"1.2\" stroke-dasharray=\"3 3\"")
                + text(
                    m.label, x: x + (right ? -4 : 4), y: fr.y0 + 13, anchor: right ? "end" : "start", size: 11,
                    color: "#555") + "\n"
        }.joined()
    }

    func stroke(_ s: ChartSeries, minimumWidth: Double = 0, minimumOpacity: Double = 0) -> String {
        "stroke=\"\(s.color)\" stroke-width=\"\(f(max(s.width, minimumWidth)))\"" + s.dash.attribute
            + (s.opacity < 1 ? " stroke-opacity=\"\(f(max(s.opacity, minimumOpacity)))\"" : "")
    }

    /// Hollow dots for dashed (control) series, so that the pairing survives greyscale printing.
    func dot(_ s: ChartSeries, _ x: Double, _ y: Double, tooltip: String? = nil) -> String {
        let solid = s.dash == .solid
        return
            "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(solid ? "3.2" : "4.5")\" "
            + "fill=\"\(solid ? s.color : "#fff")\" stroke=\"\(s.color)\" stroke-width=\"1.5\">"
            + (tooltip.map { "<title>\(escapeHTML($0))</title>" } ?? "") + "</circle>"
    }

    /// A point mark: a filled circle or a hollow ring.
    func mark(_ s: ChartSeries, _ x: Double, _ y: Double, tooltip: String? = nil) -> String {
        guard case .points(let radius, let fillOpacity, let ring) = s.mark else {
            return dot(s, x, y, tooltip: tooltip)
        }
        let paint =
            ring
            ? "fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\""
            : "fill=\"\(s.color)\"" + (fillOpacity < 1 ? " fill-opacity=\"\(f(fillOpacity))\"" : "")
        return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(f(radius))\" \(paint)>"
            + (tooltip.map { "<title>\(escapeHTML($0))</title>" } ?? "") + "</circle>"
    }

    func seriesSVG(_ s: ChartSeries, _ fr: Frame) -> String {
        let points = visiblePoints(s)
        guard !points.isEmpty else { return "" }
        if s.mark != .line {
            var out = "<g data-series=\"\(escapeHTML(s.key))\">"
            for (i, p) in s.points.enumerated() where p.x.isFinite && p.y.isFinite {
                let tip =
                    s.tooltips?[i]
                    ?? "\(s.label): \(fr.xAxis.label(p.x, exact: true)), \(fr.yAxis.label(p.y, exact: true))"
                out += mark(s, fr.sx(p.x), fr.sy(p.y), tooltip: tip)
            }
            return out + "</g>\n"
        }
        var out = "<g>"
        let band = s.band.filter { $0.x.isFinite && $0.low.isFinite && $0.high.isFinite }
        if !band.isEmpty {
            let outline =
                band.map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.low)))" }
                + band.reversed().map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.high)))" }
            out +=
                "<polygon points=\"\(outline.joined(separator: " "))\" fill=\"\(s.color)\" fill-opacity=\"0.15\" "
                + "stroke=\"none\"/>"
        }
        let coordinates = points.map { "\(f(fr.sx($0.x))),\(f(fr.sy($0.y)))" }.joined(separator: " ")
        out +=
            "<polyline data-series=\"\(escapeHTML(s.key))\" fill=\"none\" \(stroke(s)) stroke-linejoin=\"round\" "
            + "points=\"\(coordinates)\"/>"
        if points.count == 1 || (s.dots && points.count <= Self.maxDots) {
            for p in points {
                out += dot(
                    s, fr.sx(p.x), fr.sy(p.y),
                    tooltip: "\(s.label): \(fr.xAxis.label(p.x, exact: true)), \(fr.yAxis.label(p.y, exact: true))")
            }
        }
        return out + "</g>\n"
    }

    /// Legend entries flow left to right and wrap; the chart grows by the rows it needs.
    func legendLayout() -> (svg: String, height: Double) {
        let entries =
            series.filter(\.inLegend).map { ($0, visiblePoints($0).isEmpty) } + legendExtras.map { ($0, false) }
        guard !entries.isEmpty else { return ("", 0) }
        let rowHeight = 18.0
        let available = width - margin.left - margin.right
        var x = 0.0
        var row = 0
        var out = ""
        for (n, (s, empty)) in entries.enumerated() {
            let label = (s.legendLabel ?? s.label) + (empty ? " (no data yet)" : "")
            // The style key gets a row of its own, apart from the runs.
            if n == entries.count - legendExtras.count && x > 0 {
                x = 0
                row += 1
            }
            // The page has no font metrics: 7 px a character is DejaVu Sans's average at 12 px,
            // the widest of the usual fallbacks.
            let entryWidth = 28 + Double(label.count) * 7
            if x > 0 && x + entryWidth > available {
                x = 0
                row += 1
            }
            let y = margin.title + 4 + Double(row) * rowHeight
            let x0 = margin.left + x
            if s.mark != .line {
                out += "<g>" + mark(s, x0 + 11, y)
            } else {
                out += "<g>" + line(x0, y, x0 + 22, y, stroke(s, minimumWidth: 2, minimumOpacity: 0.5))
                if s.dots { out += dot(s, x0 + 11, y) }
            }
            out += text(label, x: x0 + 27, y: y + 4, anchor: "start") + "</g>\n"
            x += entryWidth + 14
        }
        return (out, Double(row + 1) * rowHeight + 6)
    }
}

/// One axis: its range and tick values at a "nice" spacing (1, 2 or 5 times a power of ten).
struct Axis {
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
        Axis(
            low: range.lowerBound, high: range.upperBound,
            step: niceStep(range.upperBound - range.lowerBound, ticks: 5, integer: false))
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
        return Axis(
            low: Swift.max((low / step).rounded(.down) * step, floor), high: (high / step).rounded(.up) * step,
            step: step)
    }

    /// Tick labels with just the decimals the spacing needs; `exact` (for tooltips) adds two.
    func label(_ v: Double, exact: Bool = false) -> String {
        var decimals = 0
        var s = step
        while decimals < 8 && abs(s - s.rounded()) > 1e-9 * Swift.max(1, abs(s)) {
            s *= 10
            decimals += 1
        }
        return String(format: "%.\(decimals + (exact ? 2 : 0))f", v == 0 ? 0 : v)
    }
}

/// Coordinates with one decimal: enough on a 600-unit canvas, and keeps the page small.
func f(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
}

/// Trailing moving average: point i averages the last `window` values up to and including i.
func movingAverage(_ points: [(x: Double, y: Double)], window: Int) -> [(x: Double, y: Double)] {
    var out: [(x: Double, y: Double)] = []
    var sum = 0.0
    for (i, p) in points.enumerated() {
        sum += p.y
        if i >= window { sum -= points[i - window].y }
        out.append((p.x, sum / Double(min(i + 1, window))))
    }
    return out
}

/// A group of points of a scatter plot (`scatterChartSVG`): one legend entry, one look.
public struct ScatterGroup {
    public var label: String
    public var color: String
    public var points: [(x: Double, y: Double)]
    public var tooltips: [String]
    public var radius: Double
    public var fillOpacity: Double
    /// Hollow rings, drawn over other groups' points to mark some of them.
    public var ring: Bool

    public init(
        label: String, color: String, points: [(x: Double, y: Double)], tooltips: [String], radius: Double = 4,
        fillOpacity: Double = 1, ring: Bool = false
    ) {
        (self.label, self.color, self.points, self.tooltips) = (label, color, points, tooltips)
        (self.radius, self.fillOpacity, self.ring) = (radius, fillOpacity, ring)
    }
}

/// A scatter plot drawn by the same chart as the report's lines (axes, ticks, legend), groups in the
/// order given (later ones on top). `yLimits` bounds the automatic y range (percentages: 0...100).
public func scatterChartSVG(
    key: String, title: String, xLabel: String, yLabel: String, groups: [ScatterGroup],
    limits: ClosedRange<Double>? = nil
) -> String {
    let series = groups.enumerated().map { i, g in
        ChartSeries(
            label: g.label, key: "\(key)-\(i)", points: g.points, color: g.color,
            mark: .points(radius: g.radius, fillOpacity: g.fillOpacity, ring: g.ring), tooltips: g.tooltips)
    }
    var chart = LineChart(key: key, title: title, xLabel: xLabel, yLabel: yLabel, series: series, yLimits: limits)
    chart.integerX = false
    chart.xLimits = limits
    return chart.svg()
}
