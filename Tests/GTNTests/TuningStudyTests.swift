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
