import Foundation
import GTN
import GTNIO

// MARK: Rank statistics

/// Ranks 1...n of `xs`, ascending; tied values share the mean of the ranks they span.
public func averageRanks(_ xs: [Double]) -> [Double] {
    let order = xs.indices.sorted { xs[$0] < xs[$1] }
    var ranks = [Double](repeating: 0, count: xs.count)
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
        let r = Double(i + j) / 2 + 1  // mean of ranks i+1 ... j+1
        for k in i...j { ranks[order[k]] = r }
        i = j + 1
    }
    return ranks
}

/// Pearson correlation; nil when fewer than two points or either side is constant.
public func pearsonCorrelation(_ x: [Double], _ y: [Double]) -> Double? {
    precondition(x.count == y.count, "pearsonCorrelation: \(x.count) and \(y.count) values")
    guard x.count >= 2 else { return nil }
    let n = Double(x.count)
    let mx = x.reduce(0, +) / n
    let my = y.reduce(0, +) / n
    var sxy = 0.0
    var sxx = 0.0
    var syy = 0.0
    for (a, b) in zip(x, y) {
        sxy += (a - mx) * (b - my)
        sxx += (a - mx) * (a - mx)
        syy += (b - my) * (b - my)
    }
    guard sxx > 0 && syy > 0 else { return nil }
    return sxy / (sxx * syy).squareRoot()
}

/// Spearman's rank correlation: the Pearson correlation of the average ranks (the usual
/// treatment of ties, as scipy.stats.spearmanr); nil when undefined.
public func spearmanCorrelation(_ x: [Double], _ y: [Double]) -> Double? {
    pearsonCorrelation(averageRanks(x), averageRanks(y))
}

/// Indices of the `k` largest values, largest first (ties: the lower index first).
public func topIndices(_ xs: [Double], k: Int) -> [Int] {
    Array(xs.indices.sorted { (xs[$0], -$0) > (xs[$1], -$1) }.prefix(max(0, k)))
}

/// How many of the `k` best by `proxy` are among the `k` best by `real`.
public func topOverlap(proxy: [Double], real: [Double], k: Int) -> Int {
    Set(topIndices(proxy, k: k)).intersection(topIndices(real, k: k)).count
}

/// The size of "the top 10%" of n architectures: 10% of n rounded, at least 1.
public func topTenPercentCount(_ n: Int) -> Int { max(1, Int((Double(n) * 0.1).rounded())) }

// MARK: The correlation study

/// One architecture scored by both evaluators.
public struct StudyRow: Codable, Sendable {
    public var genome: String
    public var proxy: Evaluation
    public var real: Evaluation
    /// Learner parameters (scalars).
    public var parameters: Int
    /// The baseline every GTN proxy must beat: real data for the proxy's own steps and batch.
    public var baseline: Evaluation?
    public init(genome: String, proxy: Evaluation, real: Evaluation, parameters: Int, baseline: Evaluation? = nil) {
        (self.genome, self.proxy, self.real, self.parameters, self.baseline) = (
            genome, proxy, real, parameters, baseline
        )
    }
}

/// What `gtn nas` reports of a correlation study (also written as summary.json).
public struct StudySummary: Codable, Sendable {
    public var architectures: Int
    /// Spearman correlation of proxy and real accuracy over all architectures, and over the proxy's
    /// top half (the paper's figure: 0.5582 on CIFAR-10).
    public var spearman: Double?
    public var spearmanProxyTopHalf: Double?
    /// The proxy's top k (k = 10% of architectures) and how many of them are in the real top k;
    /// a random proxy would get k²/n on average.
    public var topK: Int
    public var topOverlap: Int
    public var chanceOverlap: Double
    /// Mean seconds per evaluation, and real / proxy.
    public var proxySeconds: Double
    public var realSeconds: Double
    public var speedUp: Double
    public var bestByProxy: String?
    public var bestByReal: String?
    /// The same figures for the real-data baseline proxy (when every row has one).
    public var baselineSpearman: Double?
    public var baselineSpearmanTopHalf: Double?
    public var baselineTopOverlap: Int?
    public var baselineSeconds: Double?

    public init(rows: [StudyRow]) {
        let p = rows.map(\.proxy.accuracy)
        let r = rows.map(\.real.accuracy)
        let n = rows.count
        architectures = n
        topK = topTenPercentCount(n)
        (spearman, spearmanProxyTopHalf, topOverlap) = Self.ranking(p, against: r, k: topK)
        chanceOverlap = n == 0 ? 0 : Double(topK * topK) / Double(n)
        proxySeconds = mean(rows.map(\.proxy.seconds))
        realSeconds = mean(rows.map(\.real.seconds))
        speedUp = proxySeconds > 0 ? realSeconds / proxySeconds : 0
        bestByProxy = topIndices(p, k: 1).first.map { rows[$0].genome }
        bestByReal = topIndices(r, k: 1).first.map { rows[$0].genome }
        let baselines = rows.compactMap(\.baseline)
        if n > 0 && baselines.count == n {
            let ranking = Self.ranking(baselines.map(\.accuracy), against: r, k: topK)
            (baselineSpearman, baselineSpearmanTopHalf, baselineTopOverlap) = (
                ranking.all, ranking.topHalf, ranking.overlap
            )
            baselineSeconds = mean(baselines.map(\.seconds))
        }
    }

    /// How well `scores` rank architectures by `real`: Spearman over all, over the top half by
    /// `scores`, and how many of the top `k` by `scores` are in the real top `k`.
    static func ranking(_ scores: [Double], against real: [Double], k: Int)
        -> (all: Double?, topHalf: Double?, overlap: Int)
    {
        let half = topIndices(scores, k: scores.count / 2)
        return (
            spearmanCorrelation(scores, real), spearmanCorrelation(half.map { scores[$0] }, half.map { real[$0] }),
            scores.isEmpty ? 0 : GTNNAS.topOverlap(proxy: scores, real: real, k: k)
        )
    }

    /// The figures as printed lines.
    public var lines: [String] {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "undefined" }
        var baselineLines: [String] = []
        if let overlap = baselineTopOverlap, let seconds = baselineSeconds {
            baselineLines = [
                "baseline, real data for the proxy's steps and batch: Spearman \(f(baselineSpearman)) over all, "
                    + "\(f(baselineSpearmanTopHalf)) over its top half; \(overlap) of its top \(topK) in the real top "
                    + String(format: "%d; %.2f s per evaluation", topK, seconds)
            ]
        }
        return [
            "architectures: \(architectures)",
            "Spearman rank correlation, proxy vs real accuracy: \(f(spearman)) over all, \(f(spearmanProxyTopHalf)) "
                + "over the proxy's top half",
            String(
                format: "top 10%%: %d of the proxy's top %d are in the real top %d (chance: %.2f)", topOverlap, topK,
                topK, chanceOverlap),
            String(
                format: "seconds per evaluation: GTN proxy %.2f s, real training %.2f s; speed-up %.1fx", proxySeconds,
                realSeconds, speedUp),
        ] + baselineLines
    }
}

// MARK: Files

/// CSV of a study: one row per architecture.
public func studyCSV(_ rows: [StudyRow]) -> String {
    let p = averageRanks(rows.map(\.proxy.accuracy).map { -$0 })
    let r = averageRanks(rows.map(\.real.accuracy).map { -$0 })
    let withBaseline = !rows.isEmpty && rows.allSatisfy { $0.baseline != nil }
    var s = "genome,proxy_accuracy,real_accuracy,proxy_seconds,real_seconds,proxy_rank,real_rank,parameters"
    s += withBaseline ? ",baseline_accuracy,baseline_seconds\n" : "\n"
    for (i, row) in rows.enumerated() {
        s += String(
            format: "%@,%.4f,%.4f,%.3f,%.3f,%g,%g,%d", csvField(row.genome), row.proxy.accuracy, row.real.accuracy,
            row.proxy.seconds, row.real.seconds, p[i], r[i], row.parameters)
        if withBaseline, let b = row.baseline { s += String(format: ",%.4f,%.3f", b.accuracy, b.seconds) }
        s += "\n"
    }
    return s
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

func htmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// Tick values for an axis over [lo, hi]: a 1, 2 or 5 x 10^k step giving about five ticks.
func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
    let span = max(hi - lo, 1e-9)
    let raw = span / 5
    let mag = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
    var t = (lo / step).rounded(.up) * step
    var out: [Double] = []
    while t <= hi + step * 1e-9 {
        out.append(t)
        t += step
    }
    return out
}

/// An SVG scatter plot of proxy accuracy (x) against real accuracy (y), in percent, drawn by the
/// report's chart (`scatterChartSVG`). The proxy's top 10% are filled orange; the real top 10% are
/// circled; a point's tooltip names its genome.
public func scatterPlotSVG(_ rows: [StudyRow]) -> String {
    let p = rows.map { 100 * $0.proxy.accuracy }
    let r = rows.map { 100 * $0.real.accuracy }
    let k = topTenPercentCount(rows.count)
    let proxyTop = Set(topIndices(p, k: k))
    let realTop = Set(topIndices(r, k: k))
    func group(_ indices: [Int]) -> (points: [(x: Double, y: Double)], tooltips: [String]) {
        (
            indices.map { (p[$0], r[$0]) },
            indices.map {
                "\(rows[$0].genome): proxy \(String(format: "%.2f", p[$0]))%, real \(String(format: "%.2f", r[$0]))%"
            }
        )
    }
    let ordinary = group(rows.indices.filter { !proxyTop.contains($0) })
    let hot = group(rows.indices.filter { proxyTop.contains($0) })
    let circled = group(rows.indices.filter { realTop.contains($0) })
    let rho = spearmanCorrelation(p, r).map { String(format: "%.3f", $0) } ?? "undefined"
    return scatterChartSVG(
        key: "proxy-vs-real",
        title: "GTN proxy vs real training: \(rows.count) architectures, Spearman \u{03C1} = \(rho)",
        xLabel: "GTN proxy validation accuracy (%)", yLabel: "real-training validation accuracy (%)",
        groups: [
            ScatterGroup(
                label: "architecture", color: "#1f6fb4", points: ordinary.points, tooltips: ordinary.tooltips,
                fillOpacity: 0.6),
            ScatterGroup(
                label: "proxy's top 10% (\(k))", color: "#e8710a", points: hot.points, tooltips: hot.tooltips,
                radius: 5),
            ScatterGroup(
                label: "real top 10% (\(k))", color: "#c0392b", points: circled.points, tooltips: circled.tooltips,
                radius: 8, ring: true),
        ], limits: 0...100) + "\n"
}

/// A self-contained HTML page: the figures, the scatter plot, the settings and every architecture.
public func studyReportHTML(
    _ rows: [StudyRow], summary: StudySummary, settings: [(String, String)], title: String = "GTN-NAS"
) -> String {
    var h = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(htmlEscape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
        table { border-collapse: collapse; font-size: 13px; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        td.g, th.g { text-align: left; font-family: monospace; }
        tr.top td { background: #fdebd9; }
        </style></head><body>
        <h1>\(htmlEscape(title))</h1>
        <p>Architectures of the cell search space scored by a GTN proxy (a fresh learner trained for the teacher's few steps on
        its synthetic data) and by real training; the question is how well the proxy ranks them.</p>
        <h2>Figures</h2><ul>

        """
    for line in summary.lines { h += "<li>\(htmlEscape(line))</li>\n" }
    h += "</ul>\n<h2>Proxy vs real accuracy</h2>\n" + scatterPlotSVG(rows)
    h += "<h2>Settings</h2>\n<table>\n"
    for (k, v) in settings {
        h += "<tr><th class=\"g\">\(htmlEscape(k))</th><td class=\"g\">\(htmlEscape(v))</td></tr>\n"
    }
    h += "</table>\n<h2>Architectures (by proxy accuracy)</h2>\n"
    h +=
        "<p>Genome: cell nodes separated by <code>|</code>, each the sum of two edges <code>op@input</code> (input 0 "
        + "is the cell input, k node k); "
    h +=
        "the cell's output sums the nodes no other node reads (scaled by 1/sqrt(count)). Shaded rows: the proxy's top "
        + "10%.</p>\n<table>\n"
    h +=
        "<tr><th>#</th><th class=\"g\">genome</th><th>proxy %</th><th>real %</th><th>real rank</th><th>proxy s</th>"
        + "<th>real s</th><th>parameters</th></tr>\n"
    let k = topTenPercentCount(rows.count)
    let proxyOrder = topIndices(rows.map(\.proxy.accuracy), k: rows.count)
    let realRanks = averageRanks(rows.map { -$0.real.accuracy })
    for (rank, i) in proxyOrder.enumerated() {
        let row = rows[i]
        h += "<tr\(rank < k ? " class=\"top\"" : "")><td>\(rank + 1)</td><td class=\"g\">\(htmlEscape(row.genome))</td>"
        h += String(
            format: "<td>%.2f</td><td>%.2f</td><td>%g</td><td>%.2f</td><td>%.2f</td><td>%d</td></tr>\n",
            100 * row.proxy.accuracy, 100 * row.real.accuracy, realRanks[i], row.proxy.seconds, row.real.seconds,
            row.parameters)
    }
    return h + "</table>\n</body></html>\n"
}

/// Writes results.csv, report.html and summary.json into `directory` (created if needed).
public func writeStudy(_ rows: [StudyRow], settings: [(String, String)], to directory: String) throws -> StudySummary {
    try createDirectory(directory)
    let summary = StudySummary(rows: rows)
    try writeAtomically(Data(studyCSV(rows).utf8), to: directory + "/results.csv")
    try writeAtomically(
        Data(studyReportHTML(rows, summary: summary, settings: settings).utf8), to: directory + "/report.html")
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .prettyPrinted]
    try writeAtomically(e.encode(summary), to: directory + "/summary.json")
    return summary
}
