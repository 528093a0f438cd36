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
        t.learnerSampler = { rng, _ in small.cellNetwork(for: small.sample(&rng)) }
        return t
    }
    let plain = trainer(checkpointBlock: 0)
    var rng0 = RandomSource(seed: 11)
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
    // The sampler is told the meta-iteration of the episode (a warm-up schedule depends on it):
    // one that switches architecture after iteration 0 gives, at iterations 0 and 1, the losses of
    // samplers that always return the first and the second architecture.
    let (a, b) = (small.cellNetwork(for: small.sample(&rng0)), small.cellNetwork(for: small.sample(&rng0)))
    func fixed(_ pick: @escaping @Sendable (Int) -> CellNetwork) -> MetaTrainer {
        var t = trainer(checkpointBlock: 0)
        t.learnerSampler = { _, iteration in pick(iteration) }
        return t
    }
    let switching = fixed { $0 < 1 ? a : b }
    for (iteration, net) in [(0, a), (1, b)] {
        let always = fixed { _ in net }
        #expect(
            switching.metaGradient(iteration: iteration, realBatch: quarters).loss
                == always.metaGradient(iteration: iteration, realBatch: quarters).loss)
        #expect((switching.episode(seed: 9, iteration: iteration).learner as? CellNetwork) == net)
    }
    #expect(
        switching.metaGradient(iteration: 0, realBatch: quarters).loss
            != switching.metaGradient(iteration: 1, realBatch: quarters).loss)
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

/// The NAS teacher's architectures by meta-iteration (`gtn nas --train-gtn --train-pool
/// --train-warmup`): one architecture during the warm-up, then the pool (or a new one every time);
/// the same seed draws the same ones, and a smaller pool is a prefix of a larger one (so a pool of
/// one is the warm-up's architecture).
@Test func teacherArchitecturesWarmUpOnOneThenThePool() {
    let space = CellSearchSpace(nodes: 3, image: ImageShape(channels: 1, height: 8, width: 8), classes: 4, channels: 4)
    let schedule = TeacherArchitectures(space: space, poolSize: 5, warmup: 3, seed: 7)
    #expect(schedule.pool.count == 5 && Set(schedule.pool.map(\.description)).count == 5)
    #expect(schedule.warmupGenome == schedule.pool[0])
    #expect(TeacherArchitectures(space: space, poolSize: 5, warmup: 3, seed: 7).pool == schedule.pool)
    #expect(TeacherArchitectures(space: space, poolSize: 2, warmup: 0, seed: 7).pool == Array(schedule.pool[..<2]))
    #expect(TeacherArchitectures(space: space, poolSize: 5, warmup: 3, seed: 8).pool != schedule.pool)
    func draws(_ s: TeacherArchitectures<CellSearchSpace>, iteration: Int) -> [CellGenome] {
        (0..<40).map { k in
            var rng = RandomSource(seed: UInt64(k))
            return s.genome(&rng, metaIteration: iteration)
        }
    }
    // During the warm-up every episode trains the one architecture, whatever its random source.
    for i in 0..<3 { #expect(Set(draws(schedule, iteration: i)) == [schedule.pool[0]]) }
    // After it, the pool: only its members, and more than one of them.
    let after = Set(draws(schedule, iteration: 3))
    #expect(after.isSubset(of: Set(schedule.pool)) && after.count > 1)
    // No pool: one architecture during the warm-up, then new ones from the space.
    let fresh = TeacherArchitectures(space: space, poolSize: 0, warmup: 2, seed: 7)
    #expect(fresh.pool.isEmpty && fresh.warmupGenome == schedule.pool[0])
    #expect(Set(draws(fresh, iteration: 1)) == [schedule.pool[0]])
    #expect(Set(draws(fresh, iteration: 2)).count > 5)
    // No warm-up and no pool: what `--train-gtn` always did, a new architecture every time.
    let plain = TeacherArchitectures(space: space, poolSize: 0, warmup: 0, seed: 7)
    #expect(plain.warmupGenome == nil && Set(draws(plain, iteration: 0)).count > 5)
}

/// The NAS teacher's schedule kept in its directory: a new teacher gets the defaults (no pool, half
/// of N as warm-up) and keeps them when resumed with a larger N; flags given win and are kept; a
/// teacher from before the file existed resumes without a warm-up.
@Test func teacherScheduleIsKeptAcrossResumes() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtn-schedule-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let new = try TeacherSchedule.resolve(directory: dir, resuming: false, iterations: 80, pool: nil, warmup: nil)
    #expect(new == TeacherSchedule(pool: 0, warmup: 40))
    let extended = try TeacherSchedule.resolve(directory: dir, resuming: true, iterations: 160, pool: nil, warmup: nil)
    #expect(extended == new)
    let overridden = try TeacherSchedule.resolve(directory: dir, resuming: true, iterations: 160, pool: 8, warmup: nil)
    #expect(overridden == TeacherSchedule(pool: 8, warmup: 40))
    #expect(
        try TeacherSchedule.resolve(directory: dir, resuming: true, iterations: 200, pool: nil, warmup: nil)
            == overridden)
    try FileManager.default.removeItem(atPath: dir + "/" + TeacherSchedule.fileName)
    #expect(
        try TeacherSchedule.resolve(directory: dir, resuming: true, iterations: 200, pool: nil, warmup: nil)
            == TeacherSchedule(pool: 0, warmup: 0))
    #expect(
        try TeacherSchedule.resolve(directory: dir, resuming: false, iterations: 7, pool: 3, warmup: 0)
            == TeacherSchedule(pool: 3, warmup: 0))
    // A file that is not a schedule is an error naming it, not a silent default.
    try Data("{\"pool\": 1}".utf8).write(to: URL(fileURLWithPath: dir + "/" + TeacherSchedule.fileName))
    #expect {
        try TeacherSchedule.resolve(directory: dir, resuming: true, iterations: 7, pool: nil, warmup: nil)
    } throws: { ($0 as? ConfigError)?.message.contains(TeacherSchedule.fileName) == true }
}
