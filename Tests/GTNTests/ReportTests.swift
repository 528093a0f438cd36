import Foundation
import GTN
import GTNIO
import Testing

/// A fake run directory as `gtn train` writes it: 5 meta-iterations, evaluations after iterations 2
/// and 4 (T = 3), one sample grid.
private struct FakeRun {
    let root: String
    let directory: String
    let png: Data
    static let losses = [2.3, 2.0, 1.8, 1.5, 1.2]

    init(name: String = "fake-run", config: String? = nil, evaluations: Bool = true) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-report-\(UUID().uuidString)").path
        directory = root + "/" + name
        png = encodePNG(width: 4, height: 3, channels: 1, pixels: (0..<12).map { UInt8($0 * 20) })
        try createDirectory(directory + "/samples")
        try write(config ?? #"{"batchSize":16,"curriculum":"full","innerSteps":3,"learner":{"kind":"base_fc","weightNorm":true},"metaIterations":10,"seed":7}"#,
                  "config.json")
        try write(Self.losses.enumerated().map { i, loss in
            #"{"gradientNorm":1.5,"iteration":\#(i),"meanInnerLearningRate":0.02,"meanInnerMomentum":0.5,"metaAccuracy":0.\#(i + 3),"metaLearningRate":0.02,"metaLoss":\#(loss),"seconds":1.\#(i)}"#
        }.joined(separator: "\n") + "\n", "metrics.jsonl")
        if evaluations {
            try write("""
            {"iteration":2,"realDataTestAccuracy":0.6,"realDataValidationPerStep":[0.3,0.5,0.6],"seconds":2,"testAccuracy":0.65,"validationPerStep":[0.4,0.55,0.66]}
            {"iteration":4,"realDataTestAccuracy":0.72,"realDataValidationPerStep":[0.35,0.6,0.71],"seconds":2,"testAccuracy":0.75,"validationPerStep":[0.5,0.7,0.76]}

            """, "evaluations.jsonl")
        }
        try writeAtomically(png, to: directory + "/samples/iteration-000002.png")
    }

    func write(_ text: String, _ file: String) throws {
        try writeAtomically(Data(text.utf8), to: directory + "/" + file)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// The `points` attribute of the polyline tagged `data-series="key"`, as (x, y) pairs.
private func polyline(_ html: String, series key: String) -> [(x: Double, y: Double)]? {
    guard let tag = html.range(of: "data-series=\"\(key)\""),
          let start = html[tag.upperBound...].range(of: "points=\""),
          let end = html[start.upperBound...].firstIndex(of: "\"") else { return nil }
    return html[start.upperBound..<end].split(separator: " ").map { pair in
        let xy = pair.split(separator: ",").map { Double($0)! }
        return (xy[0], xy[1])
    }
}

private func escapedPath(_ path: String) -> String { path.replacingOccurrences(of: "&", with: "&amp;") }

private func count(_ needle: String, in html: String) -> Int { html.components(separatedBy: needle).count - 1 }

@Suite("Run report")
struct ReportTests {
    @Test("one run: a chart per quantity, the samples embedded, the meta-loss plotted, the summary filled in")
    func singleRun() throws {
        let run = try FakeRun()
        defer { run.remove() }
        let html = try RunReport.html(runs: [run.directory])

        let charts = ["meta-loss", "meta-accuracy", "test-accuracy", "validation-per-step", "inner-learning-rate", "inner-momentum", "seconds"]
        #expect(count("<svg", in: html) == charts.count)
        for key in charts { #expect(html.contains("data-chart=\"\(key)\""), "no \(key) chart") }
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") },
                "the page must not load anything")

        #expect(html.contains("data:image/png;base64," + run.png.base64EncodedString()))
        #expect(html.contains("iteration 2") || html.contains("Meta-iteration 2"))

        // One point per row, and a lower loss is drawn lower (larger SVG y).
        let loss = try #require(polyline(html, series: "meta-loss"))
        #expect(loss.count == FakeRun.losses.count)
        #expect(zip(loss, loss.dropFirst()).allSatisfy { $0.x < $1.x && $0.y < $1.y })
        #expect(polyline(html, series: "meta-loss-average")?.count == FakeRun.losses.count)
        #expect(polyline(html, series: "test-accuracy-taught")?.count == 2)
        #expect(polyline(html, series: "validation-per-step-real")?.count == 3)

        #expect(html.contains("fake-run (gtn, full)"))
        #expect(html.contains("75.00%") && html.contains("72.00%"), "final accuracies as percentages")
        #expect(html.contains("5 / 10"), "iterations done of planned")
        #expect(html.contains("<details>") && html.contains("&quot;batchSize&quot;:16"))
        #expect(html.contains("test accuracy (%)") && html.contains("meta-iteration"))
    }

    @Test("a GAN run adds the discriminator's accuracy, and scores.jsonl the realism and coverage charts")
    func ganCharts() throws {
        let run = try FakeRun(config: #"{"batchSize":16,"curriculum":"none","innerSteps":3,"learner":{"kind":"base_fc","weightNorm":true},"metaIterations":10,"seed":7,"teacher":"gan"}"#)
        defer { run.remove() }
        try run.write((0..<5).map { i in
            #"{"discriminatorAccuracy":0.\#(5 + i),"gradientNorm":1.5,"iteration":\#(i),"meanInnerLearningRate":0.02,"meanInnerMomentum":0.5,"metaAccuracy":0.5,"metaLearningRate":0.0002,"metaLoss":1.2,"seconds":1}"#
        }.joined(separator: "\n") + "\n", "metrics.jsonl")
        try run.write("""
            {"iteration":2,"scores":{"classEntropy":1.2,"classesCovered":6,"classifierScore":2.5,"frechetDistance":300.5,"labelAgreement":0.2,"samples":48}}
            {"iteration":4,"scores":{"classEntropy":2.0,"classesCovered":9,"classifierScore":5.5,"frechetDistance":120.25,"labelAgreement":0.6,"samples":48}}

            """, "scores.jsonl")
        let html = try RunReport.html(runs: [run.directory])
        for key in ["discriminator-accuracy", "score-frechet", "score-classifier-score", "score-classes-covered"] {
            #expect(html.contains("data-chart=\"\(key)\""), "no \(key) chart")
        }
        let frechet = try #require(polyline(html, series: "score-frechet"))
        #expect(frechet.count == 2 && frechet[0].x < frechet[1].x && frechet[0].y < frechet[1].y, "lower distance drawn lower")
        #expect(polyline(html, series: "discriminator-accuracy")?.count == 5)
        // A run without them has none of these charts.
        let plain = try FakeRun()
        defer { plain.remove() }
        #expect(!(try RunReport.html(runs: [plain.directory])).contains("score-frechet"))
    }

    @Test("evaluate.json adds the per-step and ensemble charts, with a marker at the T meta-trained for")
    func evaluateSummary() throws {
        let run = try FakeRun()
        defer { run.remove() }
        try run.write(#"{"batchSize":16,"ensembleBySize":[0.7,0.74],"gtnFinal":[0.7,0.72],"gtnPerStep":[0.4,0.6,0.7,0.72,0.73],"gtnPerStepSD":[0.02,0.02,0.01,0.01,0.01],"innerSteps":3,"iteration":5,"learners":2,"realFinal":[0.5,0.52],"realPerStep":[0.3,0.4,0.5,0.52,0.53],"seconds":3,"steps":5}"#,
                      "evaluate.json")
        let html = try RunReport.html(runs: [run.directory])
        #expect(count("<svg", in: html) == 9)
        #expect(polyline(html, series: "evaluate-per-step-taught")?.count == 5)
        #expect(polyline(html, series: "ensemble")?.count == 2)
        #expect(html.contains("meta-trained for T = 3"))
        #expect(html.contains("71.00% (74.00%)"), "mean single learner (ensemble) in the summary")
    }

    @Test("several runs: one coloured line each, labels kept apart, runs without data say so")
    func severalRuns() throws {
        let a = try FakeRun(name: "a")
        let b = try FakeRun(name: "b", config: #"{"curriculum":"none","teacher":"real","learner":{"kind":"linear","weightNorm":false}}"#, evaluations: false)
        defer { a.remove(); b.remove() }
        let html = try RunReport.html(runs: [a.directory, b.directory])
        #expect(count("<svg", in: html) == 7)
        #expect(polyline(html, series: "meta-loss-0")?.count == 5 && polyline(html, series: "meta-loss-1")?.count == 5)
        #expect(html.contains("a (gtn, full)") && html.contains("b (real)") && !html.contains("b (real, none)"))
        #expect(html.contains("b (real) (no data yet)"), "b has no evaluations yet")
        #expect(count("<tr><td><span class=\"swatch\"", in: html) == 2)
    }

    @Test("runs with the same directory name are labelled by their paths")
    func sameNames() throws {
        let a = try FakeRun(name: "seed0"), b = try FakeRun(name: "seed0")
        defer { a.remove(); b.remove() }
        let html = try RunReport.html(runs: [a.directory, b.directory])
        #expect(html.contains(escapedPath(a.directory) + " (gtn, full)") && html.contains(escapedPath(b.directory) + " (gtn, full)"))
    }

    @Test("a run that has only written its configuration is reported, with empty charts")
    func emptyRun() throws {
        let run = try FakeRun()
        defer { run.remove() }
        for file in ["metrics.jsonl", "evaluations.jsonl", "samples/iteration-000002.png"] {
            try FileManager.default.removeItem(atPath: run.directory + "/" + file)
        }
        let html = try RunReport.html(runs: [run.directory])
        #expect(count("no data yet</text>", in: html) == 7)
        #expect(html.contains("No sample grids yet"))
    }

    @Test("text from the run is escaped")
    func escaping() throws {
        let run = try FakeRun(name: "r&<b>", config: #"{"curriculum":"<script>x</script>"}"#)
        defer { run.remove() }
        let html = try RunReport.html(runs: [run.directory])
        #expect(!html.contains("<script>") && !html.contains("r&<b>"))
        #expect(html.contains("r&amp;&lt;b&gt; (gtn, &lt;script&gt;x&lt;/script&gt;)"))
    }

    @Test("errors name the directory, or the file and line, and what is wrong")
    func errors() throws {
        let missing = FileManager.default.temporaryDirectory.path + "/gtn-report-no-such-run-\(UUID().uuidString)"
        let e1 = #expect(throws: ReportError.self) { try RunReport.html(runs: [missing]) }
        #expect(e1?.description.contains(missing) == true && e1?.description.contains("no such run directory") == true)

        let run = try FakeRun()
        defer { run.remove() }
        try run.write(#"{"iteration":0,"metaLoss":2}"# + "\n\n" + #"{"iteration":1,"metaLoss":"#  + "\n" + #"{"iteration":2,"metaLoss":1}"# + "\n", "metrics.jsonl")
        let e2 = #expect(throws: ReportError.self) { try RunReport.html(runs: [run.directory]) }
        #expect(e2?.description.hasPrefix(run.directory + "/metrics.jsonl:3: not a JSON object") == true, "\(String(describing: e2))")

        try run.write(#"{"iteration":0,"metaLoss":"low"}"# + "\n", "metrics.jsonl")
        let e3 = #expect(throws: ReportError.self) { try RunReport.html(runs: [run.directory]) }
        #expect(e3?.description.contains("metrics.jsonl:1: \"metaLoss\" is not a number") == true, "\(String(describing: e3))")

        try run.write(#"{"iteration":0,"validationPerStep":[0.5,"x"]}"# + "\n", "evaluations.jsonl")
        try run.write("", "metrics.jsonl")
        let e4 = #expect(throws: ReportError.self) { try RunReport.html(runs: [run.directory]) }
        #expect(e4?.description.contains("evaluations.jsonl:1: \"validationPerStep\" element 1 is not a number") == true, "\(String(describing: e4))")

        try FileManager.default.removeItem(atPath: run.directory + "/config.json")
        let e5 = #expect(throws: ReportError.self) { try RunReport.html(runs: [run.directory]) }
        #expect(e5?.description.contains("config.json") == true)
    }

    @Test("a row still being appended (no newline yet) is left out with a note, not an error")
    func liveRun() throws {
        let run = try FakeRun()
        defer { run.remove() }
        let rows = try String(contentsOfFile: run.directory + "/metrics.jsonl", encoding: .utf8)
        try run.write(rows + #"{"gradientNorm":1.5,"iter"#, "metrics.jsonl")
        let html = try RunReport.html(runs: [run.directory])
        #expect(polyline(html, series: "meta-loss")?.count == FakeRun.losses.count)
        #expect(html.contains("line 6 is incomplete"))
    }

    @Test("write puts the page at the path")
    func writesFile() throws {
        let run = try FakeRun()
        defer { run.remove() }
        let path = run.directory + "/report.html"
        try RunReport.write(runs: [run.directory], to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("<!DOCTYPE html>") && text.hasSuffix("</html>\n"))
    }

    /// The SVG of the chart `key`.
    private func chart(_ html: String, _ key: String) -> String {
        guard let start = html.range(of: "data-chart=\"\(key)\"") else { return "" }
        let end = html[start.upperBound...].range(of: "</svg>")!.lowerBound
        return String(html[start.lowerBound..<end])
    }

    @Test("axes: metrics and evaluations share the count of meta-iterations done; no negative axis for a positive spiky loss; wide tick labels move the plot right")
    func axes() throws {
        let run = try FakeRun()
        defer { run.remove() }
        // A loss spike (0.3 to 400) and learning rates whose tick labels are 7 characters wide.
        try run.write((0..<5).map { i in
            #"{"gradientNorm":1.5,"iteration":\#(i),"meanInnerLearningRate":0.0001\#(i + 2),"meanInnerMomentum":0.5,"metaAccuracy":0.\#(i + 3),"metaLearningRate":0.02,"metaLoss":\#(i == 3 ? 400 : 0.3),"seconds":1.\#(i)}"#
        }.joined(separator: "\n") + "\n", "metrics.jsonl")
        let html = try RunReport.html(runs: [run.directory])
        // metrics.jsonl row 1 is the second meta-iteration; the first evaluation (iteration 2 in
        // evaluations.jsonl) was made after it: the same x.
        let accuracy = try #require(polyline(html, series: "meta-accuracy-average"))
        let taught = try #require(polyline(html, series: "test-accuracy-taught"))
        #expect(abs(accuracy[1].x - taught[0].x) < 0.11, "\(accuracy[1].x) vs \(taught[0].x)")
        let loss = chart(html, "meta-loss")
        #expect(!loss.isEmpty && !loss.contains(">-"), "the meta-loss axis has negative ticks")
        let rate = try #require(polyline(html, series: "inner-learning-rate"))
        #expect(rate[0].x >= 6 + 6.5 * 7 + 24 - 0.1, "the plot starts at \(rate[0].x), under 7-character tick labels")
    }

    @Test("the run's data set is in its summary: the recorded data.json, or a note that none was recorded")
    func dataLine() throws {
        let run = try FakeRun()
        defer { run.remove() }
        #expect(try RunReport.html(runs: [run.directory]).contains("not recorded"))
        try run.write(#"{"classes":10,"counts":[50000,10000,10000],"fingerprint":"abc123","imageShape":[1,28,28],"name":"digits","path":"/data/digits"}"#, "data.json")
        let html = try RunReport.html(runs: [run.directory])
        #expect(html.contains("digits (50000/10000/10000, 1x28x28, 10 classes) from /data/digits"))
        try run.write("{", "data.json")
        #expect(try RunReport.html(runs: [run.directory]).contains("not a data record"))
    }
}

@Suite("RL report")
struct RLReportTests {
    @Test("gtn rl runs get the Fig. 8 page: return against environment steps and seconds, a line per kind per run")
    func rlPage() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-rl-report-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, method) in [("a2c", "a2c"), ("gtnrl", "gtn")] {
            try createDirectory(root + "/" + name)
            let rows = (1...4).map { i in
                #"{"environment":"CartPole-v1","environmentSteps":\#(i * 1000),"evaluationReturn":\#(i * 50),"method":"\#(method)","seconds":\#(i),"trainingReturn":\#(i * 20)\#(method == "gtn" ? ",\"untrainedReturn\":9" : "")}"#
            }
            try writeAtomically(Data((rows.joined(separator: "\n") + "\n").utf8), to: root + "/\(name)/metrics.jsonl")
        }
        let runs = [root + "/a2c", root + "/gtnrl"]
        #expect(RLReport.handles(runs))
        #expect(!RLReport.handles(runs + [root]))
        let html = try RLReport.html(runs: runs)
        #expect(html.components(separatedBy: "<svg").count - 1 == 2)
        for key in ["rl-steps-0-greedy", "rl-steps-0-training", "rl-steps-1-greedy", "rl-steps-1-untrained", "rl-seconds-1-greedy"] {
            #expect(html.contains("data-series=\"\(key)\""), "no \(key)")
        }
        #expect(!html.contains("data-series=\"rl-steps-0-untrained\""), "A2C has no untrained control")
        #expect(html.contains("a2c (a2c)") && html.contains("gtnrl (gtn)"))
    }
}
