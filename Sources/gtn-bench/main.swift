import ArgumentParser
import Foundation
import GTN
import GTNAutodiff
import GTNTensor

/// Peak resident memory of this process so far (getrusage's ru_maxrss, in KiB on Linux), in bytes.
/// (Parsing VmHWM from /proc/self/status broke at 10 GB and above: the value then fills its
/// column and no space follows the tab.)
func peakMemoryBytes() -> Int {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss) * 1024
}

struct Meta: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time and peak memory of meta-iterations at the official MNIST config (base_fc, full curriculum).")

    @Option(help: "Inner steps T.") var steps = 32
    @Option(help: "Inner batch size B (also the meta batch).") var batch = 128
    @Option(help: "Inner steps per checkpointed block (0: no checkpointing).") var checkpointBlock = 4
    @Option(help: "Meta-iterations to time (the first is a warm-up; the median of the rest is printed).")
    var iterations = 3
    @Option(
        name: .customLong("replay-cache-mb"),
        help: "Megabytes of products kept for checkpoint replays (default: the trainer's).") var replayCacheMegabytes:
        Int?

    func run() throws {
        var config = GTNConfig()
        config.innerSteps = steps
        config.batchSize = batch
        config.metaBatchSize = batch
        config.checkpointBlock = checkpointBlock
        if let v = replayCacheMegabytes { config.replayCacheMegabytes = v }
        var trainer = MetaTrainer(config: config)
        // Shapes are what matter for timing; real data would change nothing here.
        let source: RealBatchSource = { n, rng in
            (Tensor.randomNormal([n, 1, 28, 28], using: &rng), (0..<n).map { $0 % 10 })
        }
        var times: [Double] = []
        for i in 0..<iterations {
            let m = trainer.step(realBatch: source)
            print(String(format: "meta-iteration %d: %.2f s, meta-loss %.4f", i, m.seconds, m.metaLoss))
            if i > 0 || iterations == 1 { times.append(m.seconds) }
        }
        let median = times.sorted()[times.count / 2]
        if OpProfiler.isEnabled {
            print(OpProfiler.report(limit: 80))
            // Every meta-iteration does the same products, so the tally divides evenly.
            let (gemm, direct) = FlopTally.totals
            print(
                String(
                    format:
                        "products per meta-iteration: %.1f GFLOP through sgemm, %.1f GFLOP if convolutions and "
                        + "matrix products were computed directly (Winograd saves %.0f%%)",
                    Double(gemm) / 1e9 / Double(iterations), Double(direct) / 1e9 / Double(iterations),
                    100 * (1 - Double(gemm) / Double(max(direct, 1)))))
        }
        print(
            String(
                format:
                    "T=%d B=%d checkpoint block %d, replay cache %d MB: median %.2f s per meta-iteration, peak memory "
                    + "%.2f GB",
                steps, batch, checkpointBlock, config.replayCacheMegabytes, median, Double(peakMemoryBytes()) / 1e9)
                + ", OpenBLAS kernels \(BLASKernels.coreName)")
    }
}

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gtn-bench",
        abstract: "Benchmarks of the GTN engine (run with `swift run -c release gtn-bench ...`).",
        subcommands: [Engine.self, Meta.self])

    /// Switches OpenBLAS to capable kernels first where it fell back to weak ones (see `BLASKernels`).
    static func main() {
        BLASKernels.useCapableKernels()
        main(nil)
    }
}

/// Median wall time of `repeats` runs of `body`, after one warm-up run.
func medianSeconds(_ repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

func row_(_ name: String, _ seconds: Double, _ gbps: Double) {
    print(
        name.padding(toLength: 50, withPad: " ", startingAt: 0)
            + String(format: "%9.2f ms  %6.1f GB/s", seconds * 1e3, gbps))
}

func row(_ name: String, _ seconds: Double, flops: Double? = nil, reference: Double? = nil) {
    var line = name.padding(toLength: 50, withPad: " ", startingAt: 0) + String(format: "%9.2f ms", seconds * 1e3)
    if let flops {
        let rate = flops / seconds / 1e9
        line += String(format: "  %7.1f GFLOP/s", rate)
        if let reference { line += String(format: "  (%3.0f%% of sgemm)", 100 * rate / reference) }
    }
    print(line)
}

struct Engine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "sgemm, convolution and learner forward/backward/double-backward at MNIST shapes.")

    @Option(help: "Timed runs per measurement (the median is printed).")
    var repeats = 5

    @Option(help: "Batch size of the convolution and learner measurements.")
    var batch = 128

    @Option(help: "Which parts to run: any of gemm, conv, matmul, elementwise, pooling, learner (comma-separated).")
    var parts = "gemm,conv,learner"

    func run() throws {
        var rng = RandomSource(seed: 1)
        print(
            "workers: \(workerCount), OpenBLAS kernels: \(BLASKernels.coreName), repeats: \(repeats) (median), batch: \(batch), Float32"
        )

        let parts = Set(self.parts.split(separator: ",").map(String.init))
        var sgemmRate: Double? = nil
        // 1. The ceiling: OpenBLAS's own threaded sgemm, then ours (single-threaded BLAS per worker).
        if parts.contains("gemm") {
            let n = 2048
            let a = Tensor<Float>.randomNormal([n, n], using: &rng)
            let b = Tensor<Float>.randomNormal([n, n], using: &rng)
            let gemmFlops = 2 * Double(n * n * n)
            setBLASThreads(workerCount)
            let native = medianSeconds(repeats) { _ = Tensor.matmul(a, b) }
            setBLASThreads(1)
            // Tensor.matmul with BLAS threads = 1 splits the product over the workers itself.
            let ours = medianSeconds(repeats) { _ = Tensor.matmul(a, b) }
            sgemmRate = gemmFlops / native / 1e9
            row("OpenBLAS sgemm 2048^3 (\(workerCount) BLAS threads)", native, flops: gemmFlops)
            row("Tensor.matmul 2048^3 (split over workers)", ours, flops: gemmFlops, reference: sgemmRate)
        }

        // 2. Convolutions of the MNIST learner: forward and both adjoints.
        // The learner's two layers (pad 1) and the generator's two (pad 0 after reflection padding).
        let convs: [(String, [Int], [Int], Int)] = [
            ("conv 28x28x1->64 3x3", [batch, 1, 28, 28], [64, 1, 3, 3], 1),
            ("conv 14x14x64->128 3x3", [batch, 64, 14, 14], [128, 64, 3, 3], 1),
            ("generator conv 16x16x128->64 3x3", [batch, 128, 16, 16], [64, 128, 3, 3], 0),
            ("generator conv 30x30x64->1 3x3", [batch, 64, 30, 30], [1, 64, 3, 3], 0),
        ]
        for (name, xs, ws, padding) in convs where parts.contains("conv") {
            let geo = ConvGeometry(input: xs, weight: ws, stride: 1, padding: padding, groups: 1)
            let x = Tensor<Float>.randomNormal(xs, using: &rng)
            let w = Tensor<Float>.randomNormal(ws, using: &rng)
            let dy = Tensor<Float>.randomNormal(geo.outputShape, using: &rng)
            row(
                "\(name) forward", medianSeconds(repeats) { _ = Convolution.forward(x, w, geo) },
                flops: geo.flops, reference: sgemmRate)
            row(
                "\(name) backward input", medianSeconds(repeats) { _ = Convolution.backwardInput(dy, w, geo) },
                flops: geo.flops, reference: sgemmRate)
            row(
                "\(name) backward weight", medianSeconds(repeats) { _ = Convolution.backwardWeight(x, dy, geo) },
                flops: geo.flops, reference: sgemmRate)
        }

        // The meta-iteration's matrix products: the learner's fc1 (6272 -> 256) forward and both
        // adjoints, the generator's 1024 -> 6272 layer and its weight adjoint.
        let products: [(String, Int, Int, Int, Bool, Bool)] = [
            ("fc1 forward 128x6272 . 6272x256", 128, 6272, 256, false, false),
            ("fc1 input adjoint 128x256 . (6272x256)T", 128, 256, 6272, false, true),
            ("fc1 weight adjoint (128x6272)T . 128x256", 6272, 128, 256, true, false),
            ("generator 128x1024 . 1024x6272", 128, 1024, 6272, false, false),
            ("generator weight adjoint (128x1024)T . 128x6272", 1024, 128, 6272, true, false),
        ]
        for (name, m, k, n, ta, tb) in products where parts.contains("matmul") {
            let a = Tensor<Float>.randomNormal(ta ? [k, m] : [m, k], using: &rng)
            let b = Tensor<Float>.randomNormal(tb ? [n, k] : [k, n], using: &rng)
            row(
                name, medianSeconds(repeats) { _ = Tensor.matmul(a, b, transposeA: ta, transposeB: tb) },
                flops: 2 * Double(m * n * k), reference: sgemmRate)
        }

        // 3. The base_fc learner: forward, backward with createGraph, and the double backward
        //    (gradient of <v, dLoss/dθ> with respect to the input batch, as a meta-gradient needs).
        if parts.contains("elementwise") {
            for shape in [[6272, 256], [128, 64, 28, 28]] {
                let a = Tensor<Float>.randomNormal(shape, using: &rng)
                let b = Tensor<Float>.randomNormal(shape, using: &rng)
                let s = Tensor<Float>.randomNormal([1], using: &rng)
                let bytes = Double(a.count * 12)
                for (name, f) in [
                    ("a * b", { _ = a * b }), ("a * [1]", { _ = a * s }),
                    ("a * 2 (map)", { _ = a * Float(2) }),
                ] as [(String, () -> Void)] {
                    let t = medianSeconds(repeats, f)
                    row_(name + " \(shape)", t, bytes / t / 1e9)
                }
            }
            // The generator's output nonlinearity (one transcendental per pixel).
            let images = Tensor<Float>.randomNormal([batch, 1, 28, 28], using: &rng)
            let t = medianSeconds(repeats) { _ = images.tanh() }
            row_("tanh [\(batch), 1, 28, 28]", t, Double(images.count * 8) / t / 1e9)
        }
        if parts.contains("pooling") {
            // The learner's two max poolings (3x3, stride 2, padding 1): the arg-max map, the
            // gather it drives, and the gather's adjoint (the scatter-add of the backward pass).
            for shape in [[batch, 64, 28, 28], [batch, 128, 14, 14]] {
                let x = Tensor<Float>.randomNormal(shape, using: &rng)
                let map = GatherMap.maxPool(x, kernel: 3, stride: 2, padding: 1)
                let y = x.gathered(map)
                let bytes = Double(x.count * 4)
                for (name, f) in [
                    ("max-pool indices", { _ = GatherMap.maxPool(x, kernel: 3, stride: 2, padding: 1) }),
                    ("gather", { _ = x.gathered(map) }),
                    ("scatter-add", { _ = y.scatteredAdd(map) }),
                ] as [(String, () -> Void)] {
                    let t = medianSeconds(repeats, f)
                    row_(name + " \(shape)", t, bytes / t / 1e9)
                }
            }
        }
        guard parts.contains("learner") else { return }
        let learner = BaseFCLearner(batch: batch, rng: &rng)
        let x = Tensor<Float>.randomNormal([batch, 1, 28, 28], using: &rng)
        var fwd = 0.0
        var bwd = 0.0
        var dbl = 0.0
        var times: [(Double, Double, Double)] = []
        for _ in 0...repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let input = Variable(x, requiresGrad: true)
            let loss = learner.loss(input)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let grads = gradients(of: loss, wrt: learner.params, createGraph: true)
            let t2 = DispatchTime.now().uptimeNanoseconds
            let probe = zip(grads, learner.probes).map { ($0 * $1).sum() }.reduce(Variable(Tensor<Float>(0)), +)
            _ = gradients(of: probe, wrt: [input])
            let t3 = DispatchTime.now().uptimeNanoseconds
            times.append((Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9, Double(t3 - t2) / 1e9))
        }
        times.removeFirst()
        fwd = times.map(\.0).sorted()[times.count / 2]
        bwd = times.map(\.1).sorted()[times.count / 2]
        dbl = times.map(\.2).sorted()[times.count / 2]
        row("base_fc learner forward (B=\(batch))", fwd)
        row("base_fc learner backward, createGraph", bwd)
        row("base_fc learner double backward to input", dbl)
        row("base_fc learner forward+backward+double backward", fwd + bwd + dbl)
        if OpProfiler.isEnabled { print(OpProfiler.report(limit: 25)) }
    }
}

/// The official MNIST learner ("base_fc"): conv3x3(1->64) maxpool(3,2,1) mean-only BN LeakyReLU,
/// conv3x3(64->128) maxpool BN LeakyReLU, Linear(128*7*7 -> 256) BN LeakyReLU, Linear(256 -> 10).
struct BaseFCLearner {
    let params: [Variable<Float>]
    let probes: [Variable<Float>]
    let labels: Variable<Float>

    init(batch: Int, rng: inout RandomSource) {
        let shapes = [
            [64, 1, 3, 3], [1, 64, 1, 1], [128, 64, 3, 3], [1, 128, 1, 1], [128 * 7 * 7, 256], [1, 256], [256, 10],
            [1, 10],
        ]
        params = shapes.map { s in
            let fanIn = s.count == 4 ? s[1] * s[2] * s[3] : s[0]
            let std = s[0] == 1 ? 0 : Float((2.0 / Double(fanIn)).squareRoot())
            return Variable(Tensor.randomNormal(s, std: std, using: &rng), requiresGrad: true)
        }
        probes = shapes.map { Variable(Tensor.randomNormal($0, using: &rng)) }
        labels = Variable(oneHot((0..<batch).map { $0 % 10 }, classes: 10))
    }

    func loss(_ x: Variable<Float>) -> Variable<Float> {
        let p = params
        func block(_ h: Variable<Float>, _ w: Variable<Float>, _ bias: Variable<Float>) -> Variable<Float> {
            let c = maxPool2d(conv2d(h, w, padding: 1), kernel: 3, stride: 2, padding: 1)
            return (c - c.mean(alongAxes: [0, 2, 3]) + bias).leakyRelu(slope: 0.1)
        }
        var h = block(block(x, p[0], p[1]), p[2], p[3]).flattened()
        h = matmul(h, p[4])
        h = (h - h.mean(alongAxes: [0]) + p[5]).leakyRelu(slope: 0.1)
        let logits = matmul(h, p[6]) + p[7]
        return crossEntropy(logProbs: logits.logSoftmax(), targets: labels)
    }
}
