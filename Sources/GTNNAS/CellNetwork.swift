import GTN
import GTNAutodiff
import GTNNN
import GTNTensor

/// How a cell network turns its last feature map into class scores.
public enum CellNetworkHead: String, Sendable, Hashable, Codable, CaseIterable {
    /// LeakyReLU, flatten, Linear (as the base_fc learner the GTNs are meta-trained with): learns
    /// within the few steps of a GTN proxy.
    case flatten
    /// LeakyReLU, global average pooling, Linear (as DARTS/ENAS): measured to learn almost nothing
    /// in 8-32 steps of GTN data.
    case globalPool = "global_pool"
}

/// A learner built from one cell genome (DARTS/ENAS-style macro skeleton):
///
///     stem: conv3x3 (C_in -> C, stride stemStride) + mean-only BN
///     stage 1: cellsPerStage cells at C channels
///     reduction: LeakyReLU + conv3x3 stride 2 (C -> 2C) + BN; stage 2: cells at 2C
///     ... (stages in all; 28x28 -> 14x14 -> 7x7 for three stages and stem stride 1)
///     LeakyReLU, flatten (or global average pooling), Linear(-> classes), log-softmax
///
/// Every cell applies the genome (own weights per cell). Each node is (a + b) / sqrt 2 of its two
/// edges, and the cell output is the sum of its unconsumed nodes / sqrt(count), so independent
/// branches keep their scale.
///
/// Ops are LeakyReLU(0.1) -> conv -> mean-only BN (the ReLU-Conv-BN order of DARTS/ENAS), and the
/// poolings are followed by a mean-only BN: every op's output then has zero batch mean, so
/// Kaiming-initialised paths keep their scale however the genome wires them. (Measured: with
/// conv -> BN -> LeakyReLU ops and plain sums, the positive means of LeakyReLU outputs and max
/// pools added up along identity and pooling paths to activations of RMS up to ~200 at
/// initialisation, and eight steps of GTN data taught such learners nothing.) The depthwise half
/// of a separable conv (no nonlinearity before its pointwise half) is initialised with variance
/// 1 / k² so that it keeps scale too.
///
/// Batch norms are mean-only (`Layers.meanOnlyBatchNorm`), so evaluation reuses the last training
/// batch's means as the other learners do; convolutions and the head are weight-normalised when
/// `weightNorm` is set.
public struct CellNetwork: LearnerArchitecture, Hashable {
    public var genome: CellGenome
    public var image: ImageShape
    public var classes: Int
    public var channels: Int
    public var stages: Int
    public var cellsPerStage: Int
    /// Stride of the stem convolution (2 runs the first stage at half resolution).
    public var stemStride: Int
    public var head: CellNetworkHead
    public var weightNorm: Bool

    public init(
        genome: CellGenome, image: ImageShape, classes: Int, channels: Int = 16, stages: Int = 3,
        cellsPerStage: Int = 1, stemStride: Int = 2, head: CellNetworkHead = .flatten, weightNorm: Bool = true
    ) {
        precondition(genome.isWellFormed, "CellNetwork: genome \(genome) has an edge reading a later node")
        precondition(
            stages >= 1 && cellsPerStage >= 1 && channels >= 1 && stemStride >= 1,
            "CellNetwork: stages, cells per stage, channels and stem stride must be at least 1")
        (self.genome, self.image, self.classes, self.channels) = (genome, image, classes, channels)
        (self.stages, self.cellsPerStage, self.stemStride, self.head, self.weightNorm) = (
            stages, cellsPerStage, stemStride, head, weightNorm
        )
    }

    /// Spatial size of each stage (the stem and the reductions are 3x3 convs with padding 1).
    public var stageSides: [(height: Int, width: Int)] {
        var h = (image.height - 1) / stemStride + 1
        var w = (image.width - 1) / stemStride + 1
        var out = [(h, w)]
        for _ in 1..<stages {
            h = (h + 1) / 2
            w = (w + 1) / 2
            out.append((h, w))
        }
        return out
    }
    /// Channels of stage `s` (0-based).
    func width(stage s: Int) -> Int { channels << s }

    // MARK: Parameters (declared in the order the forward pass takes them)

    public var specs: [ParameterSpec] {
        var s = convBNSpecs("stem", inputs: image.channels, outputs: channels, kernel: 3)
        for stage in 0..<stages {
            if stage > 0 {
                s += convBNSpecs(
                    "reduce\(stage)", inputs: width(stage: stage - 1), outputs: width(stage: stage), kernel: 3)
            }
            for cell in 0..<cellsPerStage {
                for (k, node) in genome.nodes.enumerated() {
                    for (e, edge) in node.edges.enumerated() {
                        s += opSpecs(edgeName(stage, cell, k, e), edge.op, channels: width(stage: stage))
                    }
                }
            }
        }
        let (h, w) = stageSides[stages - 1]
        let features = width(stage: stages - 1) * (head == .flatten ? h * w : 1)
        return s + Layers.linearSpecs("fc", inputs: features, outputs: classes, bias: true, weightNorm: weightNorm)
    }

    func edgeName(_ stage: Int, _ cell: Int, _ node: Int, _ edge: Int) -> String {
        "s\(stage).c\(cell).n\(node + 1)\(edge == 0 ? "a" : "b")"
    }

    func convBNSpecs(_ name: String, inputs: Int, outputs: Int, kernel: Int) -> [ParameterSpec] {
        Layers.convSpecs(
            "\(name).conv", inputs: inputs, outputs: outputs, kernel: kernel, bias: false, weightNorm: weightNorm)
            + Layers.meanOnlyBatchNormSpecs("\(name).bn", channels: outputs, rank: 4)
    }

    func opSpecs(_ name: String, _ op: CellOp, channels c: Int) -> [ParameterSpec] {
        switch op {
        case .identity: return []
        case .maxPool3x3, .avgPool3x3: return Layers.meanOnlyBatchNormSpecs("\(name).bn", channels: c, rank: 4)
        case .conv3x3: return convBNSpecs(name, inputs: c, outputs: c, kernel: 3)
        case .conv1x1: return convBNSpecs(name, inputs: c, outputs: c, kernel: 1)
        case .sepConv3x3, .sepConv1x1:
            let k = op == .sepConv3x3 ? 3 : 1
            var depthwise = Layers.convSpecs(
                "\(name).depthwise", inputs: c, outputs: c, kernel: k, groups: c, bias: false, weightNorm: weightNorm)
            depthwise[0].initializer = .normal(std: (1 / Double(k * k)).squareRoot())
            return depthwise + convBNSpecs(name, inputs: c, outputs: c, kernel: 1)
        }
    }

    // MARK: Forward

    public func logProbabilities<S>(_ params: ParameterList<S>, _ x: Variable<S>, means: inout Layers.BatchMeans<S>)
        -> Variable<S>
    {
        precondition(
            x.shape.count == 4 && x.shape[1] == image.channels,
            "CellNetwork: input \(x.shape) is not [N, \(image.channels), H, W]")
        var p = ParameterReader(params)
        var h = convBN(x, &p, "stem", stride: stemStride, padding: 1, means: &means)
        for stage in 0..<stages {
            if stage > 0 {
                h = convBN(h.leakyRelu(slope: 0.1), &p, "reduce\(stage)", stride: 2, padding: 1, means: &means)
            }
            for cell in 0..<cellsPerStage { h = self.cell(h, &p, stage: stage, cell: cell, means: &means) }
        }
        let features = head == .flatten ? h.leakyRelu(slope: 0.1).flattened() : globalAvgPool2d(h.leakyRelu(slope: 0.1))
        return Layers.linear(features, &p, "fc", bias: true, weightNorm: weightNorm).logSoftmax()
    }

    /// One application of the genome's cell.
    func cell<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, stage: Int, cell: Int, means: inout Layers.BatchMeans<S>
    ) -> Variable<S> {
        var states = [x]
        for (k, node) in genome.nodes.enumerated() {
            let a = apply(node.a.op, states[node.a.input], &p, edgeName(stage, cell, k, 0), means: &means)
            let b = apply(node.b.op, states[node.b.input], &p, edgeName(stage, cell, k, 1), means: &means)
            states.append((a + b) * S(0.5.squareRoot()))
        }
        let outputs = genome.outputNodes.map { states[$0] }
        let total = outputs.dropFirst().reduce(outputs[0], +)
        return outputs.count == 1 ? total : total * S(1 / Double(outputs.count).squareRoot())
    }

    func apply<S>(
        _ op: CellOp, _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String,
        means: inout Layers.BatchMeans<S>
    ) -> Variable<S> {
        switch op {
        case .identity: return x
        case .maxPool3x3:
            return Layers.meanOnlyBatchNorm(
                maxPool2d(x, kernel: 3, stride: 1, padding: 1), &p, "\(name).bn", means: &means)
        case .avgPool3x3:
            return Layers.meanOnlyBatchNorm(
                avgPool2d(x, kernel: 3, stride: 1, padding: 1), &p, "\(name).bn", means: &means)
        case .conv3x3: return convBN(x.leakyRelu(slope: 0.1), &p, name, padding: 1, means: &means)
        case .conv1x1: return convBN(x.leakyRelu(slope: 0.1), &p, name, padding: 0, means: &means)
        case .sepConv3x3, .sepConv1x1:
            let c = x.shape[1]
            let d = Layers.conv(
                x.leakyRelu(slope: 0.1), &p, "\(name).depthwise", padding: op == .sepConv3x3 ? 1 : 0, groups: c,
                bias: false, weightNorm: weightNorm)
            return convBN(d, &p, name, padding: 0, means: &means)
        }
    }

    /// conv (no bias) -> mean-only BN.
    func convBN<S>(
        _ x: Variable<S>, _ p: inout ParameterReader<S>, _ name: String, stride: Int = 1, padding: Int,
        means: inout Layers.BatchMeans<S>
    ) -> Variable<S> {
        let y = Layers.conv(
            x, &p, "\(name).conv", stride: stride, padding: padding, bias: false, weightNorm: weightNorm)
        return Layers.meanOnlyBatchNorm(y, &p, "\(name).bn", means: &means)
    }

    /// Training-mode forward (batch statistics), discarding the collected means.
    public func logProbabilities<S>(_ params: ParameterList<S>, _ x: Variable<S>) -> Variable<S> {
        var means = Layers.BatchMeans<S>.collect
        return logProbabilities(params, x, means: &means)
    }

    /// Multiply-accumulates of one forward pass of one example (convolutions and the head).
    public var forwardMACs: Int {
        let sides = stageSides
        var macs = sides[0].height * sides[0].width * image.channels * channels * 9
        for stage in 0..<stages {
            let c = width(stage: stage)
            let (h, w) = sides[stage]
            if stage > 0 { macs += h * w * width(stage: stage - 1) * c * 9 }
            for _ in 0..<cellsPerStage {
                for node in genome.nodes {
                    for edge in node.edges {
                        switch edge.op {
                        case .conv3x3: macs += h * w * c * c * 9
                        case .conv1x1: macs += h * w * c * c
                        case .sepConv3x3: macs += h * w * c * (9 + c)
                        case .sepConv1x1: macs += h * w * c * (1 + c)
                        case .avgPool3x3: macs += h * w * c * 9
                        case .identity, .maxPool3x3: break
                        }
                    }
                }
            }
        }
        let (h, w) = sides[stages - 1]
        return macs + width(stage: stages - 1) * classes * (head == .flatten ? h * w : 1)
    }
}
