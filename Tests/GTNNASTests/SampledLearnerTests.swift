import Foundation
@testable import GTN
import GTNAutodiff
import GTNTensor
import Testing
import GTNNAS

/// "Real" data for the tiny tests: class k is a bright k-th quarter of an 8x8 image plus noise.
private func quarters(_ n: Int, _ rng: inout RandomSource) -> (images: Tensor<Float>, labels: [Int]) {
    var x = Tensor<Float>.randomNormal([n, 1, 8, 8], std: 0.3, using: &rng)
    let labels = (0..<n).map { _ in Int(rng.next() % 4) }
    for (i, l) in labels.enumerated() {
        for r in 0..<4 { for c in 0..<4 { x.scalars[i * 64 + (r + 4 * (l / 2)) * 8 + c + 4 * (l % 2)] += 2 } }
    }
    return (x, labels)
}

/// A GTN meta-trained on architectures drawn from a search space (`MetaTrainer.learnerSampler`,
/// what `gtn nas --train-gtn` does).
@Test func metaTrainingOnArchitecturesSampledFromTheSpace() {
    let image = ImageShape(channels: 1, height: 8, width: 8)
    let small = CellSearchSpace(nodes: 3, image: image, classes: 4, channels: 4)
    func trainer(checkpointBlock: Int) -> MetaTrainer {
        var c = GTNConfig()
        c.generator = GeneratorConfig(noise: 6, classes: 4, image: image, hidden: 16, channels: 8)
        c.learner = LearnerConfig(kind: .baseFC, image: image, classes: 4, conv1: 4, conv2: 6, hidden: 12)
        (c.innerSteps, c.batchSize, c.metaBatchSize, c.checkpointBlock, c.seed) = (3, 8, 16, checkpointBlock, 5)
        var t = MetaTrainer(config: c)
        t.learnerSampler = { rng in small.cellNetwork(for: small.sample(&rng)) }
        return t
    }
    let plain = trainer(checkpointBlock: 0)
    // Every episode draws its architecture from its own seed: the same seed, the same network.
    let genomes = (0..<6).map { (plain.episode(seed: UInt64($0)).learner as? CellNetwork)?.genome.description ?? "not a cell network" }
    #expect(!genomes.contains("not a cell network"))
    #expect(Set(genomes).count > 1)
    #expect((plain.episode(seed: 3).learner as? CellNetwork)?.genome.description == genomes[3])
    // The meta-gradient through a sampled cell network is finite and non-zero, and checkpointed
    // blocks replay the same architecture (same loss, same gradient to rounding).
    let (ga, gb) = (plain.metaGradient(iteration: 2, realBatch: quarters),
                    trainer(checkpointBlock: 2).metaGradient(iteration: 2, realBatch: quarters))
    #expect(ga.loss == gb.loss && ga.loss.isFinite)
    let scale = ga.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
    #expect(scale.isFinite && scale > 0)
    for (x, y) in zip(ga.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }
    // The generator's weights get a gradient (the data is what is learned).
    #expect(ga.gradients[0].scalars.contains { $0 != 0 })
}
