import Foundation
import GTN
import GTNAutodiff
import GTNTensor
import Testing

/// The tiny configuration with another teacher or generator.
func tinyConfig(teacher: TeacherKind, generator: GeneratorKind = .conditional, checkpointBlock: Int = 0) -> GTNConfig {
    var c = tinyConfig(learner: .linear, checkpointBlock: checkpointBlock)
    c.teacher = teacher
    c.generator.kind = generator
    return c
}

@Suite("Teachers: real-data control, dataset distillation, dark-knowledge generator")
struct TeacherTests {
    static let variants: [(TeacherKind, GeneratorKind)] = [(.real, .conditional), (.distillation, .conditional), (.gtn, .darkKnowledge)]

    @Test("meta-gradient: checkpointing changes nothing, and it matches a finite difference along itself",
          arguments: [0, 1, 2])
    func metaGradient(_ variant: Int) {
        let (teacher, generator) = Self.variants[variant]
        let trainer = MetaTrainer(config: tinyConfig(teacher: teacher, generator: generator))
        let blocked = MetaTrainer(config: tinyConfig(teacher: teacher, generator: generator, checkpointBlock: 2))
        let (g, gb) = (trainer.metaGradient(iteration: 0, realBatch: tinyRealData), blocked.metaGradient(iteration: 0, realBatch: tinyRealData))
        #expect(g.loss == gb.loss)
        let scale = g.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        #expect(scale.isFinite && scale > 0)
        for (x, y) in zip(g.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }

        // The meta-loss moved along the unit gradient direction d changes at rate |g| (central
        // difference in Float32, hence the loose tolerance).
        let norm = g.gradients.reduce(0.0) { $0 + $1.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
        let eps: Float = 1e-2
        func loss(at sign: Float) -> Double {
            var moved = trainer
            var p = moved.state.parameters
            for i in p.indices { p[i] = p[i] + g.gradients[i] * (sign * eps / Float(norm)) }
            moved.state.setParametersForTesting(p)
            return moved.metaGradient(iteration: 0, realBatch: tinyRealData).loss
        }
        let slope = (loss(at: 1) - loss(at: -1)) / (2 * Double(eps))
        #expect(abs(slope - norm) / norm < 0.03, "\(teacher)/\(generator): finite difference \(slope), gradient norm \(norm)")
    }

    @Test("what each teacher learns: real only the schedule, distillation T x B images")
    func learnedParameters() {
        let real = MetaTrainer(config: tinyConfig(teacher: .real))
        #expect(real.state.parameters.map(\.shape) == [[3], [3]])
        let distilled = MetaTrainer(config: tinyConfig(teacher: .distillation))
        #expect(distilled.state.parameters.map(\.shape) == [[3, 8, 1, 8, 8], [3], [3]])
        // Distilled images lie in (-2, 2) and carry the curriculum labels i mod classes.
        let b = distilled.generatedBatch(step: 1, seed: 3)
        #expect(b.images.shape == [8, 1, 8, 8] && b.images.scalars.allSatisfy { abs($0) < 2 })
        #expect(b.targets.argmaxRows() == (0..<8).map { $0 % 4 })
    }

    @Test("the dark-knowledge generator emits soft labels; the conditional one the requested label")
    func darkKnowledgeTargets() {
        let dark = MetaTrainer(config: tinyConfig(teacher: .gtn, generator: .darkKnowledge)).generatedBatch(step: 0, seed: 1)
        let rows = dark.targets.shape[0], k = dark.targets.shape[1]
        for r in 0..<rows {
            let row = dark.targets.scalars[r * k ..< (r + 1) * k]
            #expect(abs(row.reduce(0, +) - 1) < 1e-5 && row.allSatisfy { $0 > 0 && $0 < 1 })
        }
        let plain = MetaTrainer(config: tinyConfig(teacher: .gtn)).generatedBatch(step: 0, seed: 1)
        #expect(plain.targets == oneHot((0..<8).map { $0 % 4 }, classes: 4))
    }

    @Test("meta-training the real-data teacher's schedule lowers its meta-loss")
    func realTeacherLearnsSchedule() {
        var config = tinyConfig(teacher: .real)
        config.innerLearningRate = 0.01
        config.metaLearningRate = 0.05
        var trainer = MetaTrainer(config: config)
        let losses = (0..<20).map { _ in trainer.step(realBatch: tinyRealData).metaLoss }
        #expect(losses.suffix(5).reduce(0, +) < losses.prefix(5).reduce(0, +), "\(losses)")
        #expect(trainer.innerLearningRates.allSatisfy { $0 > 0.01 }, "\(trainer.innerLearningRates)")
    }

    @Test("checkpoints of every teacher restore the same state", arguments: [0, 1, 2])
    func checkpointRoundTrip(_ variant: Int) throws {
        let (teacher, generator) = Self.variants[variant]
        var trainer = MetaTrainer(config: tinyConfig(teacher: teacher, generator: generator))
        _ = trainer.step(realBatch: tinyRealData)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-teacher-\(variant)-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(trainer, to: path)
        let restored = try Checkpoint.load(path: path)
        #expect(restored.config == trainer.config)
        #expect(restored.state.parameters == trainer.state.parameters)
        #expect(restored.state.iteration == 1)
    }

    @Test("more steps and bigger batches than meta-trained for (Fig. 5)", arguments: [CurriculumKind.full, .none])
    func moreStepsBiggerBatches(_ curriculum: CurriculumKind) {
        var config = tinyConfig(curriculum: curriculum, learner: .linear)
        config.innerLearningRate = 0.05
        let trainer = MetaTrainer(config: config)
        var steps = 0
        let learner = trainer.teach(seed: 4, steps: 7, batchMultiplier: 3) { _, _ in steps += 1 }
        #expect(steps == 7)
        var rng = RandomSource(seed: 9)
        let test = tinyRealData(200, &rng)
        #expect(learner.accuracy(images: test.images, labels: test.labels).isFinite)
        // The real-data teacher draws bigger real batches too.
        let real = MetaTrainer(config: tinyConfig(teacher: .real))
        var seen = 0
        _ = real.teach(seed: 4, steps: 5, batchMultiplier: 2, realData: tinyRealData) { _, _ in seen += 1 }
        #expect(seen == 5)
    }
}
