import Foundation
import GTN
import GTNAutodiff
import GTNTensor
import Testing

/// The tiny GTN with learned curriculum labels (official `meta_learn_labels`).
func tinyLabelConfig(curriculum: CurriculumKind = .full, checkpointBlock: Int = 0) -> GTNConfig {
    var c = tinyConfig(curriculum: curriculum, learner: .linear, checkpointBlock: checkpointBlock)
    c.learnLabels = true
    return c
}

@Suite("Learned curriculum labels (--learn-labels)")
struct LearnedLabelsTests {
    @Test("they start one-hot, so the first meta-loss and the other meta-gradients are those without them")
    func startsAsTheFixedLabels() {
        let learned = MetaTrainer(config: tinyLabelConfig())
        var plainConfig = tinyLabelConfig()
        plainConfig.learnLabels = false
        let plain = MetaTrainer(config: plainConfig)
        // [T*B, classes]: row r asks for class (r mod B) mod classes.
        let labels = learned.state.labels!
        #expect(labels.shape == [3 * 8, 4])
        #expect(labels.argmaxRows() == (0..<24).map { ($0 % 8) % 4 })
        #expect(learned.state.parameters.count == plain.state.parameters.count + 1)

        let (g, p) = (
            learned.metaGradient(iteration: 0, realBatch: tinyRealData),
            plain.metaGradient(iteration: 0, realBatch: tinyRealData)
        )
        #expect(g.loss == p.loss)
        // Same order but for the labels, which sit after the curriculum.
        let labelIndex = learned.state.generator.count + 1
        var others = g.gradients
        let labelGradient = others.remove(at: labelIndex)
        let scale = p.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        for (x, y) in zip(others, p.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-6) }
        #expect(labelGradient.shape == [24, 4] && labelGradient.scalars.contains { $0 != 0 })
    }

    @Test(
        "their meta-gradient: checkpointing changes nothing, and it matches a finite difference along itself",
        arguments: [CurriculumKind.full, .allShuffled])
    func metaGradient(_ curriculum: CurriculumKind) {
        let trainer = MetaTrainer(config: tinyLabelConfig(curriculum: curriculum))
        let blocked = MetaTrainer(config: tinyLabelConfig(curriculum: curriculum, checkpointBlock: 2))
        let g = trainer.metaGradient(iteration: 0, realBatch: tinyRealData)
        let gb = blocked.metaGradient(iteration: 0, realBatch: tinyRealData)
        #expect(g.loss == gb.loss)
        let scale = g.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        for (x, y) in zip(g.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }

        // Move the labels alone along their unit gradient: the meta-loss changes at rate |g_labels|
        // (central difference in Float32, hence the loose tolerance).
        let k = trainer.state.generator.count + 1
        let gl = g.gradients[k]
        let norm = gl.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(norm > 0)
        let eps: Float = 1e-2
        func loss(at sign: Float) -> Double {
            var moved = trainer
            var p = moved.state.parameters
            p[k] = p[k] + gl * (sign * eps / Float(norm))
            moved.state.setParametersForTesting(p)
            return moved.metaGradient(iteration: 0, realBatch: tinyRealData).loss
        }
        let slope = (loss(at: 1) - loss(at: -1)) / (2 * Double(eps))
        #expect(abs(slope - norm) / norm < 0.03, "finite difference \(slope), gradient norm \(norm)")
    }

    @Test("they are meta-learned, kept in checkpoints, and follow their rows into bigger batches")
    func learnedAndSaved() throws {
        var trainer = MetaTrainer(config: tinyLabelConfig())
        let before = trainer.state.labels!
        _ = trainer.step(realBatch: tinyRealData)
        #expect(trainer.state.labels! != before)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-labels-\(UUID()).safetensors")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(trainer, to: path)
        let restored = try Checkpoint.load(path: path)
        #expect(restored.config.learnLabels)
        #expect(restored.state.parameters == trainer.state.parameters)

        // Step 1's targets are rows 8..<16 of the learned labels; a tripled batch appends the
        // curriculum's one-hot labels for its fresh rows.
        let b = trainer.generatedBatch(step: 1, seed: 3)
        #expect(b.targets.scalars == Array(trainer.state.labels!.scalars[(8 * 4)..<(16 * 4)]))
        var learnerSteps = 0
        _ = trainer.teach(seed: 4, steps: 4, batchMultiplier: 3) { _, _ in learnerSteps += 1 }
        #expect(learnerSteps == 4)
    }

    @Test("asked of a teacher without learned curriculum rows, it is an error that names the flag")
    func validated() {
        for change in [
            { (c: inout GTNConfig) in c.curriculum = .none }, { $0.generator.kind = .darkKnowledge },
            { $0.teacher = .real },
        ] {
            var c = tinyLabelConfig()
            change(&c)
            #expect {
                try c.validate()
            } throws: { error in
                (error as? ConfigError)?.message.contains("--learn-labels") == true
            }
        }
    }
}
