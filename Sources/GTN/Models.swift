import GTNAutodiff
import GTNNN
import GTNTensor

/// Shape of the images a data set holds.
public struct ImageShape: Sendable, Hashable, Codable {
    public var channels, height, width: Int
    public init(channels: Int, height: Int, width: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
    }
    public static let mnist = ImageShape(channels: 1, height: 28, width: 28)
    public static let cifar10 = ImageShape(channels: 3, height: 32, width: 32)
    public var dims: [Int] { [channels, height, width] }
}

/// The learner architectures of the official code.
public enum LearnerKind: String, Sendable, Codable, CaseIterable {
    /// conv3x3 -> maxpool(3,2,1) -> mean-only BN -> LeakyReLU, twice; Linear -> BN -> LeakyReLU; Linear.
    case baseFC = "base_fc"
    /// The two conv blocks, global average pooling, one Linear.
    case base
    /// An MLP on flattened pixels ("linear" in the official code).
    case linear
    /// The official `ClassifierLarger2` (its CIFAR-10 learner): five 3x3 convs of widths conv1,
    /// conv2 (stride 2), conv2, conv3 (stride 2), conv3, each with mean-only BN and LeakyReLU;
    /// global average pooling; one Linear.
    case larger2
    /// The official `ClassifierLarger3`: three stages of a 3x3 conv (stride 1, 2, 2) followed by a
    /// 1x1 conv, widths conv1, conv2, conv3, each with mean-only BN and LeakyReLU; then Linear ->
    /// mean-only BN -> LeakyReLU -> Linear.
    case larger3
}

/// What the inner loop and evaluation need of a learner: its parameters and a classifier over
/// them, with mean-only batch norms whose means are collected in training mode or replayed in
/// evaluation mode (see `Layers.meanOnlyBatchNorm`). The official learners (`LearnerConfig`) and
/// GTN-NAS's cell networks are both such architectures.
public protocol LearnerArchitecture: Sendable {
    var classes: Int { get }
    var specs: [ParameterSpec] { get }
    /// Log-probabilities [N, classes] of images [N, C, H, W].
    func logProbabilities<S>(_ params: ParameterList<S>, _ x: Variable<S>, means: inout Layers.BatchMeans<S>)
        -> Variable<S>
}

extension LearnerArchitecture {
    /// Fresh weights (weight-norm gains start at their weight's norm).
    public func initialParameters<S>(_ rng: inout RandomSource) -> ParameterList<S> {
        var p = ParameterList<S>(specs: specs, rng: &rng)
        p.initialiseWeightNormGains()
        return p
    }
}

/// A learner: architecture, widths (fixed or sampled), and whether its layers are weight-normalised.
public struct LearnerConfig: LearnerArchitecture, Hashable, Codable {
    public var kind: LearnerKind
    public var image: ImageShape
    public var classes: Int
    public var conv1: Int = 64, conv2: Int = 128, hidden: Int = 256
    /// Width of the third stage (`larger2`, `larger3` only).
    public var conv3: Int = 256
    public var weightNorm: Bool = true

    public init(
        kind: LearnerKind, image: ImageShape, classes: Int, conv1: Int = 64, conv2: Int = 128,
        hidden: Int = 256, conv3: Int = 256, weightNorm: Bool = true
    ) {
        (self.kind, self.image, self.classes) = (kind, image, classes)
        (self.conv1, self.conv2, self.hidden, self.conv3, self.weightNorm) = (conv1, conv2, hidden, conv3, weightNorm)
    }

    /// The official random-width variant: conv1 in [32,128), conv2 in [64,256), hidden in [64,256);
    /// conv3 in [64,256) for `larger2`, and conv3 and hidden in [64,512) for `larger3`.
    public func withRandomWidths(_ rng: inout RandomSource) -> LearnerConfig {
        var c = self
        c.conv1 = 32 + Int(rng.next() % 96)
        c.conv2 = 64 + Int(rng.next() % 192)
        c.hidden = 64 + Int(rng.next() % (kind == .larger3 ? 448 : 192))
        if kind == .larger2 || kind == .larger3 { c.conv3 = 64 + Int(rng.next() % (kind == .larger3 ? 448 : 192)) }
        return c
    }

    /// The conv stages of the larger learners: (name, inputs, outputs, kernel, stride).
    var largerStages: [(String, Int, Int, Int, Int)] {
        let c = image.channels
        switch kind {
        case .larger2:
            return [
                ("conv1", c, conv1, 3, 1), ("conv2", conv1, conv2, 3, 2), ("conv3", conv2, conv2, 3, 1),
                ("conv4", conv2, conv3, 3, 2), ("conv5", conv3, conv3, 3, 1),
            ]
        case .larger3:
            return [
                ("conv1", c, conv1, 3, 1), ("conv1b", conv1, conv1, 1, 1), ("conv2", conv1, conv2, 3, 2),
                ("conv2b", conv2, conv2, 1, 1), ("conv3", conv2, conv3, 3, 2), ("conv3b", conv3, conv3, 1, 1),
            ]
        default: return []
        }
    }

    /// Spatial side after the two stride-2 pools (3x3, padding 1): ceil(ceil(h/2)/2).
    var pooledHeight: Int { ((image.height + 1) / 2 + 1) / 2 }
    var pooledWidth: Int { ((image.width + 1) / 2 + 1) / 2 }

    public var specs: [ParameterSpec] {
        let wn = weightNorm
        switch kind {
        case .baseFC, .base:
            var s =
                Layers.convSpecs(
                    "conv1", inputs: image.channels, outputs: conv1, kernel: 3, bias: false, weightNorm: wn)
                + Layers.meanOnlyBatchNormSpecs("bn1", channels: conv1, rank: 4)
                + Layers.convSpecs("conv2", inputs: conv1, outputs: conv2, kernel: 3, bias: false, weightNorm: wn)
                + Layers.meanOnlyBatchNormSpecs("bn2", channels: conv2, rank: 4)
            if kind == .baseFC {
                s +=
                    Layers.linearSpecs(
                        "fc1", inputs: conv2 * pooledHeight * pooledWidth, outputs: hidden, bias: false, weightNorm: wn)
                    + Layers.meanOnlyBatchNormSpecs("bn3", channels: hidden, rank: 2)
                    + Layers.linearSpecs("fc2", inputs: hidden, outputs: classes, bias: true, weightNorm: wn)
            } else {
                s += Layers.linearSpecs("fc", inputs: conv2, outputs: classes, bias: true, weightNorm: wn)
            }
            return s
        case .larger2, .larger3:
            var s: [ParameterSpec] = []
            for (i, (name, cin, cout, k, _)) in largerStages.enumerated() {
                s +=
                    Layers.convSpecs(name, inputs: cin, outputs: cout, kernel: k, bias: false, weightNorm: wn)
                    + Layers.meanOnlyBatchNormSpecs("bn\(i + 1)", channels: cout, rank: 4)
            }
            if kind == .larger2 {
                s += Layers.linearSpecs("fc", inputs: conv3, outputs: classes, bias: true, weightNorm: wn)
            } else {
                s +=
                    Layers.linearSpecs(
                        "fc1", inputs: conv3 * pooledHeight * pooledWidth, outputs: hidden, bias: false, weightNorm: wn)
                    + Layers.meanOnlyBatchNormSpecs("bnfc", channels: hidden, rank: 2)
                    + Layers.linearSpecs("fc2", inputs: hidden, outputs: classes, bias: true, weightNorm: wn)
            }
            return s
        case .linear:
            let inputs = image.channels * image.height * image.width
            return Layers.linearSpecs("fc1", inputs: inputs, outputs: hidden, bias: false, weightNorm: wn)
                + Layers.meanOnlyBatchNormSpecs("bn1", channels: hidden, rank: 2)
                + Layers.linearSpecs("fc2", inputs: hidden, outputs: classes, bias: true, weightNorm: wn)
        }
    }

    /// Log-probabilities [N, classes] of images [N, C, H, W], in training mode (batch means,
    /// which are collected into `means`) or, when `means` holds stored values, evaluation mode.
    public func logProbabilities<S>(
        _ params: ParameterList<S>, _ x: Variable<S>,
        means: inout Layers.BatchMeans<S>
    ) -> Variable<S> {
        forward(params, x, means: &means).logProbabilities
    }

    /// The forward pass with its penultimate features (the input of the last linear layer), which
    /// a frozen reference classifier provides for Fréchet distances between image sets.
    public func forward<S>(
        _ params: ParameterList<S>, _ x: Variable<S>,
        means: inout Layers.BatchMeans<S>
    ) -> (features: Variable<S>, logProbabilities: Variable<S>) {
        var p = ParameterReader(params)
        let wn = weightNorm
        var h = x
        let head: String
        switch kind {
        case .baseFC, .base:
            for i in 1...2 {
                h = Layers.convMaxPooled(h, &p, "conv\(i)", padding: 1, weightNorm: wn, poolStride: 2, poolPadding: 1)
                h = Layers.meanOnlyBatchNorm(h, &p, "bn\(i)", means: &means).leakyRelu(slope: 0.1)
            }
            if kind == .baseFC {
                h = Layers.linear(h.flattened(), &p, "fc1", bias: false, weightNorm: wn)
                h = Layers.meanOnlyBatchNorm(h, &p, "bn3", means: &means).leakyRelu(slope: 0.1)
                head = "fc2"
            } else {
                h = globalAvgPool2d(h)
                head = "fc"
            }
        case .larger2, .larger3:
            for (i, (name, _, _, k, stride)) in largerStages.enumerated() {
                h = Layers.conv(h, &p, name, stride: stride, padding: k / 2, bias: false, weightNorm: wn)
                h = Layers.meanOnlyBatchNorm(h, &p, "bn\(i + 1)", means: &means).leakyRelu(slope: 0.1)
            }
            if kind == .larger2 {
                h = globalAvgPool2d(h)
                head = "fc"
            } else {
                h = Layers.linear(h.flattened(), &p, "fc1", bias: false, weightNorm: wn)
                h = Layers.meanOnlyBatchNorm(h, &p, "bnfc", means: &means).leakyRelu(slope: 0.1)
                head = "fc2"
            }
        case .linear:
            h = Layers.linear(x.flattened(), &p, "fc1", bias: false, weightNorm: wn)
            h = Layers.meanOnlyBatchNorm(h, &p, "bn1", means: &means).leakyRelu(slope: 0.1)
            head = "fc2"
        }
        return (h, Layers.linear(h, &p, head, bias: true, weightNorm: wn).logSoftmax())
    }

    /// Training-mode forward (batch statistics), discarding the collected means.
    public func logProbabilities<S>(_ params: ParameterList<S>, _ x: Variable<S>) -> Variable<S> {
        var means = Layers.BatchMeans<S>.collect
        return logProbabilities(params, x, means: &means)
    }
}

/// What the generator gives the learner as targets.
public enum GeneratorKind: String, Sendable, Codable, CaseIterable {
    /// The label it was asked for, one-hot (the official generator).
    case conditional
    /// Its own soft label for each image, from a learned head (paper Fig. 4's "dark knowledge").
    case darkKnowledge = "dark_knowledge"
}

/// The conditional generator of the official code: (noise, one-hot label) -> image.
///   Linear(noise+classes -> 1024) BN LeakyReLU; Linear(1024 -> 128*(H/4)*(W/4)) BN LeakyReLU;
///   reshape; [upsample x2, reflection pad 1, conv3x3 128->64, BN, LeakyReLU];
///   [upsample x2, reflection pad 1, conv3x3 64->C, tanh]; times 2.
public struct GeneratorConfig: Sendable, Hashable, Codable {
    public var kind: GeneratorKind = .conditional
    public var noise: Int = 128
    public var classes: Int = 10
    public var image: ImageShape = .mnist
    public var hidden: Int = 1024
    public var channels: Int = 128
    public var weightNorm: Bool = true

    public init(
        noise: Int = 128, classes: Int = 10, image: ImageShape = .mnist, hidden: Int = 1024,
        channels: Int = 128, weightNorm: Bool = true
    ) {
        (self.noise, self.classes, self.image, self.hidden, self.channels, self.weightNorm) =
            (noise, classes, image, hidden, channels, weightNorm)
    }

    var side: (Int, Int) { (image.height / 4, image.width / 4) }

    public var specs: [ParameterSpec] { specs(weightNorm: weightNorm) }

    func specs(weightNorm wn: Bool) -> [ParameterSpec] {
        let (h, w) = side
        return Layers.linearSpecs("fc1", inputs: noise + classes, outputs: hidden, bias: false, weightNorm: wn)
            + Layers.batchNormSpecs("bn1", channels: hidden, rank: 2)
            + Layers.linearSpecs("fc2", inputs: hidden, outputs: channels * h * w, bias: false, weightNorm: wn)
            + Layers.batchNormSpecs("bn2", channels: channels * h * w, rank: 2)
            + Layers.convSpecs("conv1", inputs: channels, outputs: channels / 2, kernel: 3, bias: false, weightNorm: wn)
            + Layers.batchNormSpecs("bn3", channels: channels / 2, rank: 4)
            + Layers.convSpecs(
                "conv2", inputs: channels / 2, outputs: image.channels, kernel: 3, bias: true, weightNorm: wn)
            + (kind == .darkKnowledge
                ? Layers.linearSpecs("label", inputs: hidden, outputs: classes, bias: true, weightNorm: wn) : [])
    }

    public func initialParameters<S>(_ rng: inout RandomSource) -> ParameterList<S> {
        precondition(
            image.height % 4 == 0 && image.width % 4 == 0,
            "generator: image side \(image.height)x\(image.width) must be a multiple of 4")
        var p = ParameterList<S>(specs: specs, rng: &rng)
        p.initialiseWeightNormGains()
        return p
    }

    /// Images [N, C, H, W] in (-2, 2) from noise [N, noise] and targets [N, classes].
    public func generate<S>(_ params: ParameterList<S>, noise z: Variable<S>, labels y: Variable<S>) -> Variable<S> {
        generate(prepared: prepare(params), noise: z, labels: y)
    }

    /// The parameters with weight normalisation folded in, for many `generate(prepared:)` calls.
    public func prepare<S>(_ params: ParameterList<S>) -> ParameterList<S> {
        weightNorm ? params.foldingWeightNorm() : params
    }

    /// `generate` on parameters from `prepare`.
    public func generate<S>(prepared params: ParameterList<S>, noise z: Variable<S>, labels y: Variable<S>) -> Variable<
        S
    > {
        generateWithTargets(prepared: params, noise: z, labels: y).images
    }

    /// Images and the targets a learner trains them on: the given one-hot labels for the
    /// conditional generator; for the dark-knowledge generator, soft labels softmax(label head)
    /// computed from the first hidden layer (paper Fig. 4).
    public func generateWithTargets<S>(
        prepared params: ParameterList<S>, noise z: Variable<S>,
        labels y: Variable<S>
    ) -> (images: Variable<S>, targets: Variable<S>) {
        var p = ParameterReader(params)
        let wn = false
        let (h, w) = side
        let n = z.shape[0]
        var x = Layers.linear(concat([z, y], axis: 1), &p, "fc1", bias: false, weightNorm: wn)
        x = Layers.batchNorm(x, &p, "bn1").leakyRelu(slope: 0.1)
        let hidden1 = x
        x = Layers.linear(x, &p, "fc2", bias: false, weightNorm: wn)
        x = Layers.batchNorm(x, &p, "bn2").leakyRelu(slope: 0.1)
        x = x.reshaped([n, channels, h, w])
        x = upsampleNearestReflectionPad2d(x, factor: 2, padding: 1)
        x = Layers.conv(x, &p, "conv1", padding: 0, bias: false, weightNorm: wn)
        x = Layers.batchNorm(x, &p, "bn3").leakyRelu(slope: 0.1)
        x = Layers.upsampledConv(x, &p, "conv2", bias: true, weightNorm: wn)
        let images = x.tanh() * 2
        guard kind == .darkKnowledge else { return (images, y) }
        return (images, Layers.linear(hidden1, &p, "label", bias: true, weightNorm: wn).logSoftmax().exp())
    }
}

extension LearnerConfig {
    enum CodingKeys: String, CodingKey { case kind, image, classes, conv1, conv2, hidden, conv3, weightNorm }

    /// Widths and weight norm may be left out (their defaults apply), so configs and checkpoints
    /// written before a width existed still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try c.decode(LearnerKind.self, forKey: .kind), image: try c.decode(ImageShape.self, forKey: .image),
            classes: try c.decode(Int.self, forKey: .classes))
        conv1 = try c.decodeIfPresent(Int.self, forKey: .conv1) ?? conv1
        conv2 = try c.decodeIfPresent(Int.self, forKey: .conv2) ?? conv2
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? hidden
        conv3 = try c.decodeIfPresent(Int.self, forKey: .conv3) ?? conv3
        weightNorm = try c.decodeIfPresent(Bool.self, forKey: .weightNorm) ?? weightNorm
    }
}

extension GeneratorConfig {
    enum CodingKeys: String, CodingKey { case kind, noise, classes, image, hidden, channels, weightNorm }

    /// Every key may be left out (defaults apply), so configs written before `kind` existed load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        kind = try c.decodeIfPresent(GeneratorKind.self, forKey: .kind) ?? kind
        noise = try c.decodeIfPresent(Int.self, forKey: .noise) ?? noise
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? classes
        image = try c.decodeIfPresent(ImageShape.self, forKey: .image) ?? image
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? hidden
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? channels
        weightNorm = try c.decodeIfPresent(Bool.self, forKey: .weightNorm) ?? weightNorm
    }
}
