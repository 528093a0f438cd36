import Foundation
import GTN
import GTNAutodiff
import GTNNN
import GTNTensor
import Testing

@Suite("GAN teacher and GTN + GAN (paper Figs. 9, 10)")
struct AdversarialTests {
    static func ganConfig(teacher: TeacherKind = .gan, weight: Double = 0) -> GTNConfig {
        var c = tinyConfig(curriculum: teacher == .gan ? .none : .full, learner: .linear)
        c.teacher = teacher
        c.gan.weight = weight
        c.gan.channels = 3
        return c
    }

    @Test("binary cross-entropy of logits: log(1 + e^-l) for real, log(1 + e^l) for generated, stable at |l| = 60")
    func binaryCrossEntropyValues() {
        let l: [Double] = [-60, -2, 0, 0.5, 3, 60]
        let x = Variable(Tensor(shape: [6, 1], scalars: l))
        let real = binaryCrossEntropy(logits: x, real: true).scalar
        let fake = binaryCrossEntropy(logits: x, real: false).scalar
        func softplus(_ v: Double) -> Double { max(v, 0) + Foundation.log(1 + Foundation.exp(-abs(v))) }
        #expect(abs(real - l.map { softplus(-$0) }.reduce(0, +) / 6) < 1e-12)
        #expect(abs(fake - l.map { softplus($0) }.reduce(0, +) / 6) < 1e-12)
        #expect(real.isFinite && fake.isFinite)
    }

    @Test("the discriminator's first and second derivatives match finite differences (Float64)")
    func discriminatorDerivatives() {
        var gan = GANConfig()
        gan.channels = 2
        for weightNorm in [false, true] {
            gan.weightNorm = weightNorm
            let image = ImageShape(channels: 1, height: 4, width: 4)
            let specs = gan.discriminatorSpecs(image: image, classes: 2)
            var rng = RandomSource(seed: 3)
            let params = ParameterList<Double>(specs: specs, rng: &rng).values.map(\.value)
            let images = Tensor<Double>.randomNormal([3, 1, 4, 4], using: &rng)
            let labels: Tensor<Double> = oneHot([0, 1, 1], classes: 2)
            let f = { (xs: [Variable<Double>]) -> Variable<Double> in
                gan.discriminate(
                    ParameterList(specs: specs, values: Array(xs.dropFirst())), images: xs[0], labels: Variable(labels))
            }
            let (first, second) = DerivativeCheck.firstAndSecondOrder(of: f, at: [images] + params)
            #expect(first.maxError < 1e-6, "weight norm \(weightNorm): \(first)")
            #expect(second.maxError < 1e-5, "weight norm \(weightNorm): \(second)")
            // The losses built on it: the discriminator's (real vs generated) and the generator's.
            let dLoss = DerivativeCheck.gradient(
                of: { xs in
                    let p = ParameterList(specs: specs, values: Array(xs.dropFirst()))
                    return binaryCrossEntropy(
                        logits: gan.discriminate(p, images: xs[0], labels: Variable(labels)), real: true)
                        + binaryCrossEntropy(
                            logits: gan.discriminate(p, images: xs[0] * 0.5, labels: Variable(labels)), real: false)
                }, at: [images] + params)
            #expect(dLoss.maxError < 1e-6, "\(dLoss)")
        }
    }

    @Test("a tiny plain GAN: the discriminator learns to tell (accuracy off 50%), the generator moves, checkpoints resume exactly")
    func tinyGAN() throws {
        var config = Self.ganConfig()
        config.gan.learningRate = 0.005  // tiny networks, few steps: DCGAN's 2e-4 barely moves them
        config.batchSize = 32
        var trainer = MetaTrainer(config: config)
        #expect(trainer.hasDiscriminator)
        let before = trainer.state.generator
        let metrics = (0..<30).map { _ in trainer.step(realBatch: tinyRealData) }
        let accuracy = metrics.compactMap(\.discriminatorAccuracy)
        #expect(accuracy.count == 30)
        #expect(accuracy.suffix(10).reduce(0, +) / 10 > 0.6, "\(accuracy)")
        #expect(zip(before, trainer.state.generator).contains { $0 != $1 })
        // The inner schedule is not learned by a GAN.
        #expect(trainer.innerLearningRates.allSatisfy { abs($0 - 0.02) < 1e-6 })

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-gan-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(trainer, to: path)
        var restored = try Checkpoint.load(path: path)
        #expect(restored.state.discriminator == trainer.state.discriminator)
        #expect(restored.state.discriminatorOptimizer.step == 30)
        let a = trainer.step(realBatch: tinyRealData)
        let b = restored.step(realBatch: tinyRealData)
        #expect(a.metaLoss == b.metaLoss && a.discriminatorLoss == b.discriminatorLoss)
        #expect(restored.state.generator == trainer.state.generator)
        #expect(restored.state.discriminator == trainer.state.discriminator)
    }

    @Test("GTN + GAN: the update is the meta-gradient plus λ x the adversarial gradient; λ = 0 is the plain GTN")
    func gtnPlusGAN() {
        let lambda = 0.5
        var withGAN = MetaTrainer(config: Self.ganConfig(teacher: .gtn, weight: lambda))
        var plain = MetaTrainer(config: Self.ganConfig(teacher: .gtn))
        #expect(!plain.hasDiscriminator && plain.state.discriminator.isEmpty)
        // Same seed: the discriminator draws from its own stream, so the teachers start equal.
        #expect(withGAN.state.parameters == plain.state.parameters)
        let meta = plain.metaGradient(iteration: 0, realBatch: tinyRealData).gradients
        let adversarial = withGAN.adversarialGradientForTesting(iteration: 0)
        #expect(adversarial.contains { $0.scalars.contains { $0 != 0 } })
        let m = withGAN.step(realBatch: tinyRealData)
        _ = plain.step(realBatch: tinyRealData)
        #expect(m.discriminatorAccuracy != nil && m.adversarialLoss != nil)
        // Replay Adam's first step on the combined gradient and compare with the trainer's state.
        var expected = MetaTrainer(config: Self.ganConfig(teacher: .gtn)).state
        var params = expected.parameters
        let combined = zip(meta, adversarial).map { $0 + $1 * Float(lambda) }
        expected.optimizer.update(&params, grads: combined, lr: m.metaLearningRate)
        let distance = zip(params, withGAN.state.parameters).map { a, b in
            zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        }.max()!
        #expect(distance < 1e-6, "\(distance)")
        #expect(withGAN.state.parameters != plain.state.parameters)
    }

    @Test("configurations a GAN part cannot run with are refused, naming the setting")
    func invalidConfigurations() {
        var c = Self.ganConfig(teacher: .real, weight: 1)
        #expect(throws: ConfigError.self) { try c.validate() }
        c = Self.ganConfig()
        c.curriculum = .full
        #expect(throws: ConfigError.self) { try c.validate() }
        c = Self.ganConfig(teacher: .gtn, weight: -1)
        do { try c.validate() } catch let e as ConfigError { #expect(e.message.contains("--gan-weight")) } catch {}
    }
}
