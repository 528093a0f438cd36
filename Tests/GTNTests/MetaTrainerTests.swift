import Foundation
import GTN
import GTNAutodiff
import GTNNN
import GTNTensor
import Testing

/// A tiny configuration: 8x8 images, 4 classes, small widths, T = 3, B = 8.
func tinyConfig(curriculum: CurriculumKind = .full, learner: LearnerKind = .baseFC, checkpointBlock: Int = 0) -> GTNConfig {
    var c = GTNConfig()
    let image = ImageShape(channels: 1, height: 8, width: 8)
    c.generator = GeneratorConfig(noise: 6, classes: 4, image: image, hidden: 16, channels: 8)
    c.learner = LearnerConfig(kind: learner, image: image, classes: 4, conv1: 4, conv2: 6, hidden: 12)
    c.curriculum = curriculum
    c.innerSteps = 3
    c.batchSize = 8
    c.metaBatchSize = 16
    c.metaIterations = 30
    c.checkpointBlock = checkpointBlock
    c.seed = 11
    return c
}

/// "Real" data for the tiny tests: class k is a bright k-th quarter of the image plus noise.
func tinyRealData(_ n: Int, _ rng: inout RandomSource) -> (images: Tensor<Float>, labels: [Int]) {
    var x = Tensor<Float>.randomNormal([n, 1, 8, 8], std: 0.3, using: &rng)
    let labels = (0..<n).map { _ in Int(rng.next() % 4) }
    for (i, l) in labels.enumerated() {
        for r in 0..<4 { for c in 0..<4 { x.scalars[i * 64 + (r + 4 * (l / 2)) * 8 + c + 4 * (l % 2)] += 2 } }
    }
    return (x, labels)
}

@Suite("Meta-trainer")
struct MetaTrainerTests {
    @Test("same seed, same run; checkpointing changes nothing", arguments: CurriculumKind.allCases)
    func deterministicAndCheckpointExact(curriculum: CurriculumKind) {
        var a = MetaTrainer(config: tinyConfig(curriculum: curriculum))
        var b = MetaTrainer(config: tinyConfig(curriculum: curriculum))
        for _ in 0..<2 { #expect(a.step(realBatch: tinyRealData).metaLoss == b.step(realBatch: tinyRealData).metaLoss) }
        #expect(a.state.parameters == b.state.parameters)

        // Checkpointed blocks replay the same computation: the meta-gradients agree to rounding.
        let c = MetaTrainer(config: tinyConfig(curriculum: curriculum, checkpointBlock: 2))
        let plain = MetaTrainer(config: tinyConfig(curriculum: curriculum))
        let (gp, gc) = (plain.metaGradient(iteration: 0, realBatch: tinyRealData), c.metaGradient(iteration: 0, realBatch: tinyRealData))
        #expect(gp.loss == gc.loss)
        // Relative to the largest gradient entry overall: the gains of weight-normalised layers
        // that feed a batch norm have a true gradient of zero (batch norm undoes any scale), so
        // their computed gradients are pure rounding noise and cannot be compared on their own.
        let scale = gp.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        for (x, y) in zip(gp.gradients, gc.gradients) {
            #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5)
        }
    }

    /// Meta-trains the tiny configuration with inner lr 0.1; returns the trainer and the mean
    /// meta-loss of the first and of the last 10 meta-iterations.
    func metaTrain(_ learner: LearnerKind, iterations: Int) -> (MetaTrainer, first: Double, last: Double) {
        var config = tinyConfig(learner: learner)
        config.metaIterations = iterations
        config.innerLearningRate = 0.1
        var trainer = MetaTrainer(config: config)
        let losses = (0..<iterations).map { _ in trainer.step(realBatch: tinyRealData).metaLoss }
        return (trainer, losses.prefix(10).reduce(0, +) / 10, losses.suffix(10).reduce(0, +) / 10)
    }

    @Test("meta-training lowers the meta-loss and the learned data teaches (MLP learner)")
    func metaTrainingTeaches() {
        let (trainer, first, last) = metaTrain(.linear, iterations: 60)
        #expect(last < first * 0.5, "meta-loss \(first) -> \(last)")
        var rng = RandomSource(seed: 123)
        let test = tinyRealData(400, &rng)
        let taught = trainer.teach(seed: 77).accuracy(images: test.images, labels: test.labels)
        let control = trainer.trainOnRealData(seed: 77, data: tinyRealData).accuracy(images: test.images, labels: test.labels)
        #expect(taught > 0.8, "a fresh learner taught by the GTN for 3 steps scores \(taught)")
        #expect(taught >= control, "GTN \(taught) vs 3 real-data steps \(control)")
    }

    @Test("meta-training a conv learner lowers the meta-loss")
    func metaTrainingConvLearner() {
        let (_, first, last) = metaTrain(.baseFC, iterations: 40)
        #expect(last < first * 0.95, "meta-loss \(first) -> \(last)")
    }

    @Test("intermediate losses: checkpointing changes nothing, and they add to the meta-gradient")
    func intermediateLosses() {
        var config = tinyConfig()
        config.intermediateLossEvery = 1
        var blocked = config
        blocked.checkpointBlock = 2
        let (a, b) = (MetaTrainer(config: config), MetaTrainer(config: blocked))
        let (ga, gb) = (a.metaGradient(iteration: 0, realBatch: tinyRealData), b.metaGradient(iteration: 0, realBatch: tinyRealData))
        #expect(ga.loss == gb.loss)
        let scale = ga.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        for (x, y) in zip(ga.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }
        // Without them the meta-gradient is another one.
        let plain = MetaTrainer(config: tinyConfig()).metaGradient(iteration: 0, realBatch: tinyRealData)
        #expect(zip(plain.gradients, ga.gradients).contains { Double($0.maxAbsDifference($1)) > 1e-3 * scale })
    }

    @Test("the final loss's weight enters linearly and weighs the final loss only")
    func finalLossWeight() {
        func gradient(_ w: Double) -> (loss: Double, gradients: [Tensor<Float>]) {
            var config = tinyConfig()
            config.intermediateLossEvery = 1
            config.finalLossWeight = w
            let g = MetaTrainer(config: config).metaGradient(iteration: 0, realBatch: tinyRealData)
            return (g.loss, g.gradients)
        }
        let (g1, g2, g3) = (gradient(1), gradient(2), gradient(3))
        #expect(g3.loss == g1.loss)  // the reported loss is the final learner's, unweighted
        let scale = g3.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        #expect(scale.isFinite && scale > 0)
        // g(w) = g_intermediate + w g_final, so g(3) = 2 g(2) - g(1) ...
        for i in g3.gradients.indices {
            let expected = g2.gradients[i] * 2 - g1.gradients[i]
            #expect(Double(g3.gradients[i].maxAbsDifference(expected)) / scale < 1e-4)
        }
        // ... and g(2) - g(1) = g_final is not g(1) itself (which it would be if the weight
        // scaled the whole objective), i.e. the intermediate losses keep their weight.
        #expect(
            zip(g1.gradients, g2.gradients).contains { Double(($1 - $0).maxAbsDifference($0)) > 1e-2 * scale })
    }

    @Test("Adam and RMSProp inner loops: checkpointing changes nothing, meta-training teaches", arguments: [InnerOptimizer.adam, .rmsprop])
    func innerOptimizers(_ optimizer: InnerOptimizer) {
        var config = tinyConfig(learner: .linear)
        config.innerOptimizer = optimizer
        config.innerLearningRate = 0.01
        config.metaIterations = 40
        var blocked = config
        blocked.checkpointBlock = 2
        let (ga, gb) = (MetaTrainer(config: config).metaGradient(iteration: 0, realBatch: tinyRealData),
                        MetaTrainer(config: blocked).metaGradient(iteration: 0, realBatch: tinyRealData))
        #expect(ga.loss == gb.loss)
        let scale = ga.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        #expect(scale.isFinite && scale > 0)
        for (x, y) in zip(ga.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }

        var trainer = MetaTrainer(config: config)
        var rng = RandomSource(seed: 123)
        let test = tinyRealData(400, &rng)
        // Mean test accuracy of five fresh learners taught by the teacher.
        func taught(_ t: MetaTrainer) -> Double {
            (77..<82).map { t.teach(seed: UInt64($0)).accuracy(images: test.images, labels: test.labels) }.reduce(0, +) / 5
        }
        let before = taught(trainer)
        let losses = (0..<config.metaIterations).map { _ in trainer.step(realBatch: tinyRealData).metaLoss }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        // Loose bounds on purpose: 40 meta-iterations of a tiny problem are chaotic, and a change
        // of rounding anywhere moves one learner's result a lot (seen: an equivalent convolution
        // adjoint, and OpenBLAS's Cooperlake kernels instead of its Haswell ones, took a single
        // Adam learner from ~0.45-0.85 to 0.305). What must hold is that meta-training makes
        // progress at all: the meta-loss falls, and learners taught by the trained teacher do
        // better than those taught by the untrained one (chance is 0.25).
        #expect(last < first * 0.97, "\(optimizer): meta-loss \(first) -> \(last)")
        let after = taught(trainer)
        print("inner optimizer \(optimizer): taught accuracy \(before) -> \(after)")
        #expect(after > before + 0.05 && after > 0.35, "\(optimizer): learners taught by the GTN score \(before) -> \(after)")
    }

    @Test("colour images (CIFAR-10 layout): generator and learners take 3 channels", arguments: [LearnerKind.base, .baseFC])
    func colourImages(_ learner: LearnerKind) {
        var config = tinyConfig(learner: learner)
        let image = ImageShape(channels: 3, height: 8, width: 8)
        config.generator.image = image
        config.learner.image = image
        var trainer = MetaTrainer(config: config)
        let colour: RealBatchSource = { n, rng in
            (Tensor.randomNormal([n, 3, 8, 8], using: &rng), (0..<n).map { $0 % 4 })
        }
        let m = trainer.step(realBatch: colour)
        #expect(m.metaLoss.isFinite && m.gradientNorm > 0)
        #expect(trainer.generatedBatch(step: 0, seed: 1).images.shape == [8, 3, 8, 8])
    }

    @Test("larger learners (official ClassifierLarger2/3): shapes, random widths, checkpoint-exact meta-gradient",
          arguments: [LearnerKind.larger2, .larger3])
    func largerLearners(_ kind: LearnerKind) {
        var config = tinyConfig(learner: kind)
        config.learner.conv3 = 10
        // Stride-2 stages take 8x8 to 4x4 to 2x2: the fc input of larger3 is conv3 * 2 * 2.
        let specs = config.learner.specs
        #expect(specs.filter { $0.name.hasSuffix(".weight") && $0.shape.count == 4 }.count == (kind == .larger2 ? 5 : 6))
        if kind == .larger3 { #expect(specs.first { $0.name == "fc1.weight" }?.shape == [10 * 2 * 2, 12]) }
        var rng = RandomSource(seed: 5)
        for _ in 0..<3 {
            let wide = config.learner.withRandomWidths(&rng)
            let p: ParameterList<Float> = wide.initialParameters(&rng)
            #expect(wide.logProbabilities(p, Variable(Tensor.randomNormal([2, 1, 8, 8], using: &rng))).shape == [2, 4])
        }
        var blocked = config
        blocked.checkpointBlock = 2
        let (ga, gb) = (MetaTrainer(config: config).metaGradient(iteration: 0, realBatch: tinyRealData),
                        MetaTrainer(config: blocked).metaGradient(iteration: 0, realBatch: tinyRealData))
        #expect(ga.loss == gb.loss && ga.loss.isFinite)
        let scale = ga.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
        #expect(scale.isFinite && scale > 0)
        for (x, y) in zip(ga.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }
    }

    @Test("learner configs written before conv3 existed still load")
    func learnerConfigWithoutConv3() throws {
        let json = #"{"kind":"base_fc","image":{"channels":1,"height":28,"width":28},"classes":10,"conv1":64,"conv2":128,"hidden":256,"weightNorm":true}"#
        let c = try JSONDecoder().decode(LearnerConfig.self, from: Data(json.utf8))
        #expect(c == LearnerConfig(kind: .baseFC, image: .mnist, classes: 10))
    }

    @Test("several learners per meta-iteration: the update uses their mean meta-gradient")
    func learnersPerIteration() {
        var config = tinyConfig(learner: .linear)
        config.learnersPerIteration = 3
        let probe = MetaTrainer(config: config)
        let parts = (0..<3).map { probe.metaGradient(iteration: 0, learner: $0, realBatch: tinyRealData) }
        // Distinct learners, distinct meta-gradients; learner 0 is the single-learner run's.
        #expect(parts[0].loss != parts[1].loss)
        #expect(parts[0].gradients == MetaTrainer(config: tinyConfig(learner: .linear)).metaGradient(iteration: 0, realBatch: tinyRealData).gradients)
        let third: Float = 1 / 3
        let mean: [Tensor<Float>] = (0..<parts[0].gradients.count).map { i in
            let sum: Tensor<Float> = parts[0].gradients[i] + parts[1].gradients[i]
            return (sum + parts[2].gradients[i]) * third
        }
        var single = MetaTrainer(config: config)
        var manual = MetaTrainer(config: config)
        let m = single.step(realBatch: tinyRealData)
        #expect(abs(m.metaLoss - parts.map(\.loss).reduce(0, +) / 3) < 1e-9)
        var p = manual.state.parameters
        manual.state.optimizer.update(&p, grads: mean, lr: config.metaLearningRate)
        for (a, b) in zip(p, single.state.parameters) { #expect(a.maxAbsDifference(b) < 1e-6) }
    }

    @Test("inner learning rates and momenta are meta-learned per step")
    func hyperparametersMove() {
        var trainer = MetaTrainer(config: tinyConfig())
        let before = trainer.innerLearningRates
        for _ in 0..<3 { _ = trainer.step(realBatch: tinyRealData) }
        #expect(trainer.innerLearningRates != before)
        #expect(trainer.innerLearningRates.count == 3 && trainer.innerMomenta.count == 3)
    }
}
