import GTN
import GTNAutodiff
import GTNTensor
import Testing

/// The fast paths (Winograd and direct convolutions, checkpoint replays that reuse the first run's
/// products) against the plain ones (im2col everywhere, full recomputation), on the official MNIST
/// shapes: the real generator and base_fc learner at B = 128, with checkpointed blocks replayed.
///
/// How close is close enough was measured, not assumed: two exact algorithms that only sum in
/// another order (im2col, and direct loops for every convolution) give Float32 meta-gradients
/// 2.7e-3 apart here (relative, in the norm of the whole), because max pooling and LeakyReLU are
/// not smooth: a last-bit difference between a window's two largest inputs sends that gradient to
/// the other one. 1e-4 is below this computation's Float32 noise floor, and so is any bound at
/// the spread itself: which windows flip is chance, so one run's distance is a draw, and per
/// meta-parameter the draws are wider than for the whole. Measured, whole / worst meta-parameter:
/// scalar Winograd F(2x2) 7.5e-4 / -; lane-parallel F(2x2) (another summation order in the
/// weight adjoint) 1.0e-3 / 2.1e-3; F(4x4) for the wide layers 2.5e-3 / 3.2e-3 (2026-12-02, with
/// OpenBLAS's Cooperlake kernels). So the bound is twice the exact orders' spread, 5.4e-3: it
/// catches what this test is for (a wrong replay, tile or lane is off by O(1)), while the
/// kernels' Float32 accuracy is bounded tightly (1e-5 and below), at the same shapes, in
/// KernelReferenceTests. (The direct-everywhere run is not repeated here: it takes four minutes
/// in a debug build.)
@Suite("Fast paths at the official shapes")
struct FastPathEquivalenceTests {
    /// Euclidean distance between two lists of tensors (of one tensor and zeros when `b` is nil).
    static func distance(_ a: [Tensor<Float>], _ b: [Tensor<Float>]? = nil) -> Double {
        var sum = 0.0
        for (i, t) in a.enumerated() {
            t.scalars.withUnsafeBufferPointer { x in
                if let b {
                    b[i].scalars.withUnsafeBufferPointer { y in
                        for k in 0..<x.count { let d = Double(x[k]) - Double(y[k]); sum += d * d }
                    }
                } else {
                    for k in 0..<x.count { sum += Double(x[k]) * Double(x[k]) }
                }
            }
        }
        return sum.squareRoot()
    }

    @Test("Winograd, direct convolutions and kept products stay within Float32's spread of the exact algorithms")
    func fastPathsMatchPlainPaths() {
        var config = GTNConfig()  // official MNIST generator and base_fc learner, 28x28
        (config.innerSteps, config.batchSize, config.metaBatchSize, config.checkpointBlock) = (2, 128, 128, 1)
        let trainer = MetaTrainer(config: config)
        let source: RealBatchSource = { n, rng in (Tensor.randomNormal([n, 1, 28, 28], using: &rng), (0..<n).map { $0 % 10 }) }
        func run(_ algorithm: ConvAlgorithm, _ replay: ReplayPolicy) -> (loss: Double, accuracy: Double, gradients: [Tensor<Float>]) {
            ConvAlgorithm.$current.withValue(algorithm) {
                ReplayPolicy.$current.withValue(replay) { trainer.metaGradient(iteration: 0, realBatch: source) }
            }
        }
        let clock = ContinuousClock(), start = clock.now
        let plain = run(.im2col, .recomputeAll)
        print("fast-path test: plain \(clock.now - start)")
        let fast = run(.automatic, .keepProducts(minimumCost: 512))
        let fastRecomputing = run(.automatic, .recomputeAll)
        print("fast-path test: three meta-gradients \(clock.now - start)")

        // Keeping products changes no bit.
        #expect(fast.gradients == fastRecomputing.gradients)
        #expect(abs(plain.loss - fast.loss) <= 1e-5 * abs(plain.loss))
        let norm = Self.distance(plain.gradients)
        let fastError = Self.distance(fast.gradients, plain.gradients) / norm
        print("fast-path test: relative difference to im2col \(fastError)")
        #expect(norm > 0)
        let bound = 2 * 2.7e-3  // twice the spread of two exact summation orders
        #expect(fastError < bound, "fast path \(fastError)")
        // Every meta-parameter that carries a share of the gradient, not only the whole.
        for (i, (a, b)) in zip(plain.gradients, fast.gradients).enumerated() {
            let (na, d) = (Self.distance([a]), Self.distance([a], [b]))
            guard na > 1e-3 * norm else { continue }  // e.g. biases before a batch norm: zero up to rounding
            #expect(d <= bound * na, "meta-parameter \(i) \(a.shape): relative difference \(d / na)")
        }
    }
}
