import Foundation
import GTNAutodiff
import GTNNAS
import GTNNN
import GTNTensor
import Testing

@testable import GTN

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
    let genomes = (0..<6).map {
        (plain.episode(seed: UInt64($0)).learner as? CellNetwork)?.genome.description ?? "not a cell network"
    }
    #expect(!genomes.contains("not a cell network"))
    #expect(Set(genomes).count > 1)
    #expect((plain.episode(seed: 3).learner as? CellNetwork)?.genome.description == genomes[3])
    // The meta-gradient through a sampled cell network is finite and non-zero, and checkpointed
    // blocks replay the same architecture (same loss, same gradient to rounding).
    let (ga, gb) = (
        plain.metaGradient(iteration: 2, realBatch: quarters),
        trainer(checkpointBlock: 2).metaGradient(iteration: 2, realBatch: quarters)
    )
    #expect(ga.loss == gb.loss && ga.loss.isFinite)
    let scale = ga.gradients.map { Double($0.scalars.map { abs($0) }.max() ?? 0) }.max()!
    #expect(scale.isFinite && scale > 0)
    for (x, y) in zip(ga.gradients, gb.gradients) { #expect(Double(x.maxAbsDifference(y)) / scale < 1e-5) }
    // The generator's weights get a gradient (the data is what is learned).
    #expect(ga.gradients[0].scalars.contains { $0 != 0 })
}

/// The meta-gradient through sampled cell networks in Float64, at the channel count `gtn nas`
/// uses (16: 3x3 convolutions take the Winograd path, separable ones the grouped path): the
/// real-data loss after two differentiable SGD steps on synthetic images, differentiated with
/// respect to those images and the log learning rate, against central differences in every
/// coordinate. This is the mixed second derivative that meta-training needs and that the
/// input-only checks above do not cover.
@Test(arguments: [0, 1, 2])
func cellNetworkMetaGradientMatchesFiniteDifferences(_ seed: Int) {
    let image = ImageShape(channels: 1, height: 5, width: 5)
    let space = CellSearchSpace(nodes: 3, image: image, classes: 3, channels: 16, stages: 2, stemStride: 1)
    var rng = RandomSource(seed: UInt64(40 + seed))
    let net = space.cellNetwork(for: space.sample(&rng))
    let start: ParameterList<Double> = net.initialParameters(&rng)
    let real = Tensor<Double>.randomNormal([6, 1, 5, 5], using: &rng)
    let synthetic = Tensor<Double>.randomNormal([3, 1, 5, 5], using: &rng)
    let report = DerivativeCheck.gradient(
        of: { v in
            var weights = start.values.map { Variable($0.value, requiresGrad: true) }
            let minusLR = -v[1].exp()
            for _ in 0..<2 {
                let loss = nllLoss(
                    logProbs: net.logProbabilities(ParameterList(specs: start.specs, values: weights), v[0]),
                    labels: [0, 1, 2])
                let g = gradients(of: loss, wrt: weights, createGraph: true)
                weights = zip(weights, g).map { $1.multiplyAdd(minusLR, $0) }
            }
            return nllLoss(
                logProbs: net.logProbabilities(ParameterList(specs: start.specs, values: weights), Variable(real)),
                labels: [0, 1, 2, 0, 1, 2])
        }, at: [synthetic, Tensor(shape: [1], scalars: [Foundation.log(0.1)])])
    #expect(report.maxError < 1e-5, "\(net.genome): \(report)")
}
