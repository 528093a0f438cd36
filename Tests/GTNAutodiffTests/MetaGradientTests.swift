import GTNAutodiff
import GTNTensor
import Testing

/// End-to-end meta-gradient of a tiny GTN: a generator makes T batches, a fresh conv learner takes
/// T SGD-with-momentum steps on them (gradients kept differentiable), and the meta-loss is the
/// trained learner's cross-entropy on "real" data. The meta-gradient with respect to the
/// generator, the learned noise curriculum and the per-step log learning rates must match central
/// finite differences of the whole unrolled procedure.
enum TinyGTN {
    static let (steps, batch, noise, classes, side) = (3, 3, 3, 3, 4)

    /// Meta-parameters: generator weight, generator bias, curriculum noise [T, B, noise],
    /// log learning rates [T], logit of the momentum [].
    static func metaParameters(seed: UInt64) -> [Tensor<Double>] {
        var rng = RandomSource(seed: seed)
        return [
            .randomNormal([noise + classes, side * side], std: 0.5, using: &rng),
            .randomNormal([side * side], std: 0.1, using: &rng),
            .randomNormal([steps, batch, noise], using: &rng),
            Tensor(shape: [steps], scalars: [-1.2, -1.0, -1.4]),
            Tensor(0.0),
        ]
    }

    /// The learner's initial weights (fixed: the check is of the meta-gradient, not of the init).
    static func learnerInit(seed: UInt64) -> [Tensor<Double>] {
        var rng = RandomSource(seed: seed)
        return [
            .randomNormal([2, 1, 3, 3], std: 0.5, using: &rng),  // conv 1 -> 2, 3x3
            .zeros([1, 2, 1, 1]),                                // mean-only batch-norm bias
            .randomNormal([8, classes], std: 0.4, using: &rng),  // linear 2*2*2 -> classes
        ]
    }

    static func learner(_ w: [Variable<Double>], _ x: Variable<Double>) -> Variable<Double> {
        var h = conv2d(x, w[0], padding: 1)
        h = maxPool2d(h, kernel: 2, stride: 2)
        h = h - h.mean(alongAxes: [0, 2, 3]) + w[1]  // mean-only batch norm
        h = h.leakyRelu(slope: 0.1)
        return matmul(h.flattened(), w[2]).logSoftmax()
    }

    static let labels: Tensor<Double> = oneHot((0..<batch).map { $0 % classes }, classes: classes)

    /// One inner step: the generator makes a batch from noise z and labels, the learner steps.
    static func innerStep(_ meta: [Variable<Double>], step t: Int, z: Variable<Double>,
                          weights: [Variable<Double>], velocity: [Variable<Double>]) -> ([Variable<Double>], [Variable<Double>]) {
        let y = Variable(labels)
        let x = ((matmul(concat([z, y], axis: 1), meta[0]) + meta[1]).tanh() * 2).reshaped([batch, 1, side, side])
        let loss = crossEntropy(logProbs: learner(weights, x), targets: y)
        let grads = gradients(of: loss, wrt: weights, createGraph: true)
        let lr = meta[3].slice(axis: 0, t ..< t + 1).exp()
        let momentum = meta[4].sigmoid()
        let v = zip(velocity, grads).map { $0 * momentum + $1 }
        let w = zip(weights, v).map { $0 - $1 * lr }
        return (w, v)
    }

    static func metaLoss(_ meta: [Variable<Double>], checkpointEvery block: Int? = nil,
                         replay: ReplayPolicy = .recomputeAll) -> Variable<Double> {
        // The learner's weights are leaves that require gradients: the inner loop differentiates
        // with respect to them (the meta-gradient never asks for them, so costs nothing there).
        var w = learnerInit(seed: 5).map { Variable($0, requiresGrad: true) }
        var v = w.map { Variable(Tensor<Double>.zeros($0.shape)) }
        let noiseFor = { (t: Int) in meta[2].slice(axis: 0, t ..< t + 1).reshaped([batch, noise]) }
        var t = 0
        while t < steps {
            let end = min(steps, t + (block ?? steps))
            if block == nil {
                (w, v) = innerStep(meta, step: t, z: noiseFor(t), weights: w, velocity: v)
            } else {
                // Checkpoint a block of steps: everything the block depends on is passed in.
                let (start, n) = (t, w.count)
                let out = checkpointed(meta + w + v, replay: replay) { ins in
                    let m = Array(ins[0..<meta.count])
                    var ww = Array(ins[meta.count ..< meta.count + n]), vv = Array(ins[(meta.count + n)...])
                    for s in start..<end {
                        let z = m[2].slice(axis: 0, s ..< s + 1).reshaped([batch, noise])
                        (ww, vv) = innerStep(m, step: s, z: z, weights: ww, velocity: vv)
                    }
                    return ww + vv
                }
                (w, v) = (Array(out[0..<n]), Array(out[n...]))
            }
            t = block == nil ? t + 1 : end
        }
        var rng = RandomSource(seed: 99)
        let real = Variable(Tensor<Double>.randomNormal([4, 1, side, side], using: &rng))
        let realLabels = Variable<Double>(oneHot([0, 1, 2, 1], classes: classes))
        return crossEntropy(logProbs: learner(w, real), targets: realLabels)
    }
}

@Suite("Meta-gradients through an unrolled inner loop")
struct MetaGradientTests {
    @Test("3-step unrolled SGD: meta-gradient matches finite differences")
    func metaGradientMatchesFiniteDifferences() {
        let report = DerivativeCheck.gradient(of: { TinyGTN.metaLoss($0) }, at: TinyGTN.metaParameters(seed: 1))
        #expect(report.maxError < 1e-6, "\(report)")
    }

    @Test("checkpointed blocks give the same meta-gradient", arguments: [1, 2])
    func checkpointingIsExact(block: Int) {
        let meta = TinyGTN.metaParameters(seed: 2).map { Variable($0, requiresGrad: true) }
        let plain = gradients(of: TinyGTN.metaLoss(meta), wrt: meta)
        let blocked = gradients(of: TinyGTN.metaLoss(meta, checkpointEvery: block), wrt: meta)
        for (a, b) in zip(plain, blocked) {
            #expect(a.value.maxAbsDifference(b.value) < 1e-12)
        }
        let report = DerivativeCheck.gradient(of: { TinyGTN.metaLoss($0, checkpointEvery: block) },
                                              at: TinyGTN.metaParameters(seed: 2))
        #expect(report.maxError < 1e-6, "\(report)")
    }

    @Test("a replay that reuses the first run's products gives bitwise the same meta-gradient", arguments: [1, 2])
    func keptProductsAreExact(block: Int) {
        let meta = TinyGTN.metaParameters(seed: 4).map { Variable($0, requiresGrad: true) }
        let recomputed = gradients(of: TinyGTN.metaLoss(meta, checkpointEvery: block, replay: .recomputeAll), wrt: meta)
        // minimumCost 1: every product and convolution of the tiny GTN is kept.
        let kept = gradients(of: TinyGTN.metaLoss(meta, checkpointEvery: block, replay: .keepProducts(minimumCost: 1)), wrt: meta)
        for (a, b) in zip(recomputed, kept) { #expect(a.value == b.value) }
        let report = DerivativeCheck.gradient(of: { TinyGTN.metaLoss($0, checkpointEvery: block, replay: .keepProducts(minimumCost: 1)) },
                                              at: TinyGTN.metaParameters(seed: 4))
        #expect(report.maxError < 1e-6, "\(report)")
    }

    @Test("a replay budget keeps some products, recomputes the others, and changes no bit")
    func replayBudgetIsExact() {
        let meta = TinyGTN.metaParameters(seed: 5).map { Variable($0, requiresGrad: true) }
        let recomputed = gradients(of: TinyGTN.metaLoss(meta, checkpointEvery: 1, replay: .recomputeAll), wrt: meta)
        for bytes in [0, 4000, 1 << 30] {
            let budget = ReplayBudget(bytes: bytes)
            let kept = ReplayBudget.$current.withValue(budget) {
                gradients(of: TinyGTN.metaLoss(meta, checkpointEvery: 1, replay: .keepProducts(minimumCost: 1)), wrt: meta)
            }
            for (a, b) in zip(recomputed, kept) { #expect(a.value == b.value, "budget \(bytes)") }
            if bytes == 4000 { #expect(budget.bytes < 4000, "the budget was not used") }
        }
    }

    @Test("a segment that replays other ops than it first ran stops using the kept results")
    func replayMismatchRecomputes() {
        // Impure on purpose: the first run computes tanh(a b), every replay tanh(c c); both are
        // [2, 2]. The memo must notice that the replay's product has other inputs and compute it:
        // tanh's pullback reads its output, so a reused a b would give other gradients.
        final class Calls: @unchecked Sendable { var n = 0 }
        let calls = Calls()
        var rng = RandomSource(seed: 8)
        let a = Variable(Tensor<Double>.randomNormal([2, 3], using: &rng), requiresGrad: true)
        let b = Variable(Tensor<Double>.randomNormal([3, 2], using: &rng), requiresGrad: true)
        let c = Variable(Tensor<Double>.randomNormal([2, 2], using: &rng), requiresGrad: true)
        let out = checkpointed([a, b, c], replay: .keepProducts(minimumCost: 1)) { ins in
            calls.n += 1
            return calls.n == 1 ? [matmul(ins[0], ins[1]).tanh()] : [matmul(ins[2], ins[2]).tanh()]
        }
        let g = gradients(of: out[0].sum(), wrt: [c])
        let direct = gradients(of: matmul(c, c).tanh().sum(), wrt: [c])
        #expect(calls.n == 2)
        #expect(g[0].value == direct[0].value)
    }

    @Test("the meta-gradient is not trivially zero")
    func metaGradientIsNonZero() {
        let meta = TinyGTN.metaParameters(seed: 3).map { Variable($0, requiresGrad: true) }
        let g = gradients(of: TinyGTN.metaLoss(meta), wrt: meta)
        for (i, gi) in g.enumerated() {
            #expect(gi.value.scalars.contains { abs($0) > 1e-6 }, "meta-parameter \(i) got no gradient")
        }
    }
}
