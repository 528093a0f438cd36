import Foundation
import GTN
import GTNTune
import Testing

@Suite("gtn tune studies")
struct TuningStudyTests {
    @Test("trials alternate arms, a diverged trial is recorded and the study goes on, a resumed study suggests the same")
    func studyRecordsAndResumes() throws {
        let dir = NSTemporaryDirectory() + "gtn-tune-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let space = [SearchDimension(name: "innerLearningRate", low: 1e-3, high: 1, scale: .log)]
        var off = tinyConfig()
        off.learner.weightNorm = false
        let arms = [TuningStudy.Arm(name: "on", base: tinyConfig()), TuningStudy.Arm(name: "off", base: off)]
        // A stand-in for meta-training: the "loss" is a function of the learning rate; trial 2 diverges.
        var calls = 0
        func fake(_ c: GTNConfig, _ directory: String) throws -> (metaLoss: Double, validationAccuracy: Double) {
            calls += 1
            if calls == 3 { throw DivergedError(iteration: 0, metaLoss: .nan, gradientNorm: .nan, checkpoint: nil) }
            let x = log10(c.innerLearningRate) + (c.learner.weightNorm ? 2 : 1)
            return (x * x, 0.5)
        }
        var study = try TuningStudy(
            directory: dir, space: space, arms: arms, trialsPerArm: 4, objective: .metaLoss, seed: 3)
        for _ in 0..<5 { _ = try study.runNext(train: fake) }
        #expect(study.trials.map(\.arm) == ["on", "off", "on", "off", "on"])
        #expect(study.trials[2].status == "diverged" && study.trials[2].objective == nil)
        #expect(study.trials.filter { $0.objective != nil }.count == 4)
        // The interrupted study, resumed from trials.jsonl, makes the same next suggestion.
        var copy = study
        let next = try copy.runNext(train: fake)
        var resumed = try TuningStudy(
            directory: dir + "-resumed", space: space, arms: arms, trialsPerArm: 4, objective: .metaLoss, seed: 3)
        try FileManager.default.createDirectory(atPath: dir + "-resumed", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir + "-resumed") }
        let rows = try String(contentsOfFile: dir + "/trials.jsonl", encoding: .utf8).split(separator: "\n").prefix(5)
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "-resumed/trials.jsonl"))
        resumed = try TuningStudy(
            directory: dir + "-resumed", space: space, arms: arms, trialsPerArm: 4, objective: .metaLoss, seed: 3)
        #expect(resumed.trials.count == 5)
        let again = try resumed.runNext(train: fake)
        #expect(again.point == next.point && again.arm == next.arm)
        #expect(throws: ConfigError.self) {
            try TuningStudy(
                directory: dir, space: [SearchDimension(name: "nope", low: 0, high: 1)], arms: arms, trialsPerArm: 1,
                objective: .metaLoss, seed: 0)
        }
    }
}

@Suite("gtn tune report")
struct TuneReportTests {
    @Test("boxplots per arm with the quartiles of the trials' final losses; a diverged trial is counted, not drawn")
    func boxplots() throws {
        let dir = NSTemporaryDirectory() + "gtn-tune-report-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rows = [("on", 1.0), ("off", 2.0), ("on", 2.0), ("off", 4.0), ("on", 3.0), ("off", .nan), ("on", 4.0)]
        let text = rows.enumerated().map { i, r in
            r.1.isNaN
                ? #"{"arm":"\#(r.0)","point":[0.5],"values":{},"status":"diverged","trial":\#(i),"seconds":1}"#
                : #"{"arm":"\#(r.0)","finalMetaLoss":\#(r.1),"objective":\#(r.1),"point":[0.5],"values":{},"status":"ok","trial":\#(i),"seconds":1,"validationAccuracy":0.5}"#
        }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/trials.jsonl"))
        #expect(TuneReport.handles([dir]))
        let html = try TuneReport.html(study: dir)
        // Arm "on": 1, 2, 3, 4 -> quartiles 1.75, 2.5, 3.25 (linear interpolation).
        #expect(html.contains(#"data-box="on" data-median="2.5" data-q1="1.75" data-q3="3.25""#), "\(html.prefix(600))")
        #expect(html.contains(#"data-box="off" data-median="3.0""#))
        #expect(html.contains("off: 1 of 3 diverged"))
        #expect(html.contains("data-chart=\"tune-progress\""))
    }
}
