import Foundation
import GTN
import GTNData
import GTNTensor
import Testing

@Suite("Presets and the tuned real-data control (issue 15)")
struct PaperFidelityTests {
    @Test("every preset lays over the defaults and validates; paper-mnist is the official MNIST config at T = 32")
    func presets() throws {
        var defaults = GTNConfig()
        defaults.innerSteps = 8
        defaults.metaIterations = 160
        defaults.gradientClip = 10  // as the main job's defaults
        for p in Preset.all {
            let c = try p.apply(over: defaults)
            try c.validate()
            #expect(c != defaults, "preset \(p.name) changes nothing")
        }
        let paper = try Preset.named("paper-mnist").apply(over: defaults)
        #expect(paper.innerSteps == 32 && paper.batchSize == 128 && paper.metaBatchSize == 128)
        #expect(
            paper.metaIterations == 2000 && paper.metaLearningRate == 0.02 && paper.metaLearningRateFinalFraction == 0.1
        )
        #expect(paper.innerLearningRate == 0.02 && paper.innerMomentum == 0.5 && paper.intermediateLossEvery == 1)
        #expect(paper.learner.kind == .baseFC && paper.curriculum == .full && paper.teacher == .gtn)
        // The official config sets no gradient bound, whatever our defaults clip at; the fast preset keeps ours.
        #expect(paper.gradientClip == nil)
        let fast = try Preset.named("fast").apply(over: defaults)
        #expect(fast.gradientClip == 10 && fast.innerSteps == 32 && fast.metaIterations == 600)
        // What the preset does not name keeps the defaults' value (the data's image shape, the seed).
        #expect(paper.learner.image == defaults.learner.image && paper.seed == defaults.seed)
        #expect(throws: ConfigError.self) { try Preset.named("paper-mnsit") }
        do { _ = try Preset.named("paper-mnsit") } catch let e as ConfigError {
            #expect(e.message.contains("paper-mnist") && e.message.contains("fast"))
        }
    }

    @Test("the inner start is tuned for the main job and the fast preset, not for the official config")
    func whoTunesTheInnerStart() throws {
        func tunes(
            asked: Bool? = nil, preset: String? = nil, configFile: Bool = false, startNamed: Bool = false,
            teacher: TeacherKind = .gtn
        ) throws -> Bool {
            try Preset.tunesInnerStart(
                asked: asked, preset: preset, configFile: configFile, startNamed: startNamed, teacher: teacher)
        }
        #expect(try tunes() && tunes(teacher: .real) && tunes(preset: "fast"))
        #expect(try !tunes(preset: "paper-mnist") && !tunes(configFile: true) && !tunes(startNamed: true))
        #expect(try !tunes(preset: "fast", startNamed: true) && !tunes(teacher: .gan))
        // Asked for either way, the flag wins.
        #expect(try tunes(asked: true, preset: "paper-mnist") && !tunes(asked: false, preset: "fast"))
        #expect(throws: ConfigError.self) { try tunes(preset: "fsat") }
    }

    @Test("the tuning picks the grid point with the best validation accuracy, and the control trains with it")
    func tunedControl() throws {
        var config = tinyConfig(learner: .linear)
        config.innerLearningRate = 1e-6  // the untuned control barely moves
        let trainer = MetaTrainer(config: config)
        let splits = tinySplits()
        // A learning rate that cannot teach in 3 steps, and two that can.
        let tuning = try tuneRealDataControl(
            trainer, train: splits.train, validation: splits.validation, learningRates: [1e-6, 0.05, 0.2],
            momenta: [0, 0.5], tuningLearners: 2)
        #expect(tuning.validationAccuracy.count == 3 && tuning.validationAccuracy.allSatisfy { $0.count == 2 })
        let flat = tuning.validationAccuracy.flatMap { $0 }
        let i = tuning.learningRates.firstIndex(of: tuning.bestLearningRate)!
        let j = tuning.momenta.firstIndex(of: tuning.bestMomentum)!
        #expect(tuning.validationAccuracy[i][j] == flat.max()!)
        #expect(tuning.bestLearningRate != 1e-6, "\(tuning.validationAccuracy)")
        #expect(flat.max()! > tuning.validationAccuracy[0].max()! + 0.1, "\(tuning.validationAccuracy)")

        let tuned = try evaluateTeacher(
            trainer, train: splits.train, perStep: splits.validation, final: splits.test, learners: 2,
            realDataControl: true, realLearningRate: tuning.bestLearningRate, realMomentum: tuning.bestMomentum)
        let untuned = try evaluateTeacher(
            trainer, train: splits.train, perStep: splits.validation, final: splits.test, learners: 2,
            realDataControl: true)
        #expect(tuned.realLearningRate == tuning.bestLearningRate && tuned.realMomentum == tuning.bestMomentum)
        #expect(untuned.realLearningRate == 1e-6)
        // Same learners, so the taught rows agree; the tuned control learns, the untuned one does not.
        #expect(tuned.gtnFinal == untuned.gtnFinal)
        #expect(
            tuned.realFinal!.reduce(0, +) > untuned.realFinal!.reduce(0, +) + 0.2,
            "\(tuned.realFinal!) vs \(untuned.realFinal!)")
        // The control is the learner the tuned settings train from the same initialisation.
        let direct = trainer.trainOnRealData(
            seed: 0xE7A1, data: { n, r in splits.train.randomBatch(size: n, using: &r) },
            learningRate: tuning.bestLearningRate, momentum: tuning.bestMomentum)
        #expect(direct.accuracy(on: splits.test) == tuned.realFinal![0])
    }

    @Test("the best learning rate is on the grid's edge only where the grid searched more than one")
    func gridEdge() {
        func tuning(_ lrs: [Double], best: Double) -> RealDataTuning {
            // As evaluate.json stores it (the memberwise init is the module's own).
            let json = """
                {"learningRates": \(lrs), "momenta": [0.5], "validationAccuracy": \(lrs.map { _ in [0.5] }),
                 "tuningLearners": 2, "bestLearningRate": \(best), "bestMomentum": 0.5}
                """
            return try! JSONDecoder().decode(RealDataTuning.self, from: Data(json.utf8))
        }
        #expect(tuning([0.01, 0.1, 1], best: 1).bestIsOnEdge)
        #expect(tuning([0.01, 0.1, 1], best: 0.01).bestIsOnEdge)
        #expect(!tuning([0.01, 0.1, 1], best: 0.1).bestIsOnEdge)
        #expect(!tuning([0.1], best: 0.1).bestIsOnEdge)  // fixed by the user, not searched
    }
}
