import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// The adversarial part of the paper's Figs. 9 and 10: a discriminator, the plain (conditional)
/// GAN that `--teacher gan` trains with the GTN's own generator, and the auxiliary GAN loss that
/// `--gan-weight` adds to a GTN's meta-loss.
public struct GANConfig: Sendable, Codable, Hashable {
    /// λ: the generator's adversarial loss, on one inner-loop batch per meta-iteration, is added to
    /// the meta-loss with this weight (GTN teacher only; 0 turns the GAN part off).
    public var weight = 0.0
    /// Channels of the discriminator's first convolution (the second has twice as many).
    public var channels = 64
    public var weightNorm = false
    /// Adam for the discriminator, and for the generator of the plain GAN: DCGAN's settings.
    public var learningRate = 2e-4
    public var beta1 = 0.5, beta2 = 0.999

    public init() {}

    /// DCGAN-style, conditional by label planes (Mirza & Osindero 2014): the one-hot label is
    /// broadcast to C extra input channels; conv 4x4/2 -> LeakyReLU(0.2) -> conv 4x4/2 ->
    /// LeakyReLU(0.2) -> linear -> one logit ("real"). No batch norm, so a batch of real and one
    /// of generated images are scored independently of each other.
    public func discriminatorSpecs(image: ImageShape, classes: Int) -> [ParameterSpec] {
        let d = channels
        return Layers.convSpecs(
            "conv1", inputs: image.channels + classes, outputs: d, kernel: 4, bias: true, weightNorm: weightNorm)
            + Layers.convSpecs("conv2", inputs: d, outputs: 2 * d, kernel: 4, bias: true, weightNorm: weightNorm)
            + Layers.linearSpecs(
                "fc", inputs: 2 * d * (image.height / 4) * (image.width / 4), outputs: 1, bias: true,
                weightNorm: weightNorm)
    }

    /// The discriminator's logits, shape [N, 1], for `images` [N, C, H, W] with one-hot `labels` [N, K].
    public func discriminate<S>(_ params: ParameterList<S>, images: Variable<S>, labels: Variable<S>) -> Variable<S> {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let planes =
            labels.reshaped([n, labels.shape[1], 1, 1]) * Variable(Tensor<S>(repeating: 1, shape: [1, 1, h, w]))
        var p = ParameterReader(params)
        var x = concat([images, planes], axis: 1)
        x = Layers.conv(x, &p, "conv1", stride: 2, padding: 1, bias: true, weightNorm: weightNorm).leakyRelu(slope: 0.2)
        x = Layers.conv(x, &p, "conv2", stride: 2, padding: 1, bias: true, weightNorm: weightNorm).leakyRelu(slope: 0.2)
        return Layers.linear(x.flattened(), &p, "fc", bias: true, weightNorm: weightNorm)
    }
}

/// Binary cross-entropy of logits [N, 1] against "real" (1) or "generated" (0), averaged over
/// the batch: log(1 + e^-l) for real, log(1 + e^l) for generated. Written as the log-softmax of
/// the two logits (0, l), so it is stable for large |l| and built from checked primitives.
public func binaryCrossEntropy<S>(logits: Variable<S>, real: Bool) -> Variable<S> {
    let n = logits.shape[0]
    let pair = concat([Variable(Tensor<S>.zeros([n, 1])), logits], axis: 1).logSoftmax()
    return crossEntropy(logProbs: pair, targets: Variable(oneHot([Int](repeating: real ? 1 : 0, count: n), classes: 2)))
}

/// What one discriminator update measured.
public struct DiscriminatorMetrics: Sendable, Codable {
    /// Its loss on the real and generated batches (sum of the two means).
    public var loss: Double
    /// Fraction of the real and generated images it classified correctly (0.5: chance).
    public var accuracy: Double
}

extension MetaTrainer {
    /// Whether this run has a discriminator: the plain GAN, or a GTN with an auxiliary GAN loss.
    public var hasDiscriminator: Bool { config.teacher == .gan || config.gan.weight > 0 }

    static func initialDiscriminator(_ config: GTNConfig) -> [Tensor<Float>] {
        guard config.teacher == .gan || config.gan.weight > 0 else { return [] }
        // Its own random stream, so adding a discriminator changes nothing else a seed draws.
        var rng = RandomSource(seed: config.seed ^ 0xD15C_0000)
        let specs = config.gan.discriminatorSpecs(image: config.generator.image, classes: config.generator.classes)
        return ParameterList<Float>(specs: specs, rng: &rng).values.map(\.value)
    }

    var discriminatorSpecs: [ParameterSpec] {
        config.gan.discriminatorSpecs(image: config.generator.image, classes: config.generator.classes)
    }

    /// One Adam step of the discriminator on a real batch against a generated one (its graph is
    /// not followed into the generator).
    mutating func updateDiscriminator(
        real: (images: Tensor<Float>, labels: Tensor<Float>), generated: (images: Tensor<Float>, labels: Tensor<Float>)
    ) -> DiscriminatorMetrics {
        let d = state.discriminator.map { Variable($0, requiresGrad: true) }
        let params = ParameterList(specs: discriminatorSpecs, values: d)
        let realLogits = config.gan.discriminate(params, images: Variable(real.images), labels: Variable(real.labels))
        let fakeLogits = config.gan.discriminate(
            params, images: Variable(generated.images), labels: Variable(generated.labels))
        let loss =
            binaryCrossEntropy(logits: realLogits, real: true) + binaryCrossEntropy(logits: fakeLogits, real: false)
        let grads = gradients(of: loss, wrt: d).map(\.value)
        var values = state.discriminator
        state.discriminatorOptimizer.update(&values, grads: grads, lr: config.gan.learningRate)
        state.discriminator = values
        let correct =
            realLogits.value.scalars.filter { $0 > 0 }.count + fakeLogits.value.scalars.filter { $0 <= 0 }.count
        return DiscriminatorMetrics(
            loss: Double(loss.scalar),
            accuracy: Double(correct) / Double(realLogits.value.count + fakeLogits.value.count))
    }

    /// The generator's non-saturating adversarial loss -log D(G(z)) on `images` (a graph into the
    /// generator) with their one-hot `labels`, under the current discriminator (held fixed).
    func adversarialLoss(images: Variable<Float>, labels: Variable<Float>) -> Variable<Float> {
        let params = ParameterList(specs: discriminatorSpecs, values: state.discriminator.map { Variable($0) })
        return binaryCrossEntropy(logits: config.gan.discriminate(params, images: images, labels: labels), real: true)
    }

    /// Evenly distributed labels (index mod classes) for a batch of `n`, one-hot.
    func evenLabels(_ n: Int) -> Tensor<Float> {
        let k = config.generator.classes
        return oneHot(curriculumLabels(batch: n, classes: k), classes: k)
    }

    /// One iteration of the plain GAN (`--teacher gan`): a discriminator step on a real batch
    /// against a generated one, then a generator step on the non-saturating loss, both with Adam.
    /// The noise is fresh every iteration; there is no curriculum and no meta-gradient.
    mutating func ganStep(realBatch: RealBatchSource) -> MetaStepMetrics {
        let start = DispatchTime.now().uptimeNanoseconds
        let iteration = state.iteration
        var rng = RandomSource(seed: config.seed &+ 0x6A4E &* UInt64(iteration + 1))
        let b = config.batchSize
        let labels = evenLabels(b)
        let noise = Tensor<Float>.randomNormal([b, config.generator.noise], using: &rng)
        let fake = withoutGradients {
            config.generator.generate(
                ParameterList(specs: generatorSpecs, values: state.generator.map { Variable($0) }),
                noise: Variable(noise), labels: Variable(labels)
            ).value
        }
        let real = realBatch(b, &rng)
        let dm = updateDiscriminator(
            real: (real.images, oneHot(real.labels, classes: config.generator.classes)), generated: (fake, labels))
        // The generator's step, against the updated discriminator, on the same noise.
        let g = state.generator.map { Variable($0, requiresGrad: true) }
        let images = config.generator.generate(
            ParameterList(specs: generatorSpecs, values: g), noise: Variable(noise), labels: Variable(labels))
        let loss = adversarialLoss(images: images, labels: Variable(labels))
        var grads = gradients(of: loss, wrt: g).map(\.value)
        // The inner schedule is not learned here: zero gradients leave it at its initial values.
        grads += state.parameters.dropFirst(g.count).map { Tensor<Float>.zeros($0.shape) }
        let norm = grads.reduce(0.0) { acc, t in acc + t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }
        var params = state.parameters
        state.optimizer.update(&params, grads: grads, lr: config.gan.learningRate)
        state.setParameters(params)
        state.iteration += 1
        return MetaStepMetrics(
            iteration: iteration, metaLoss: Double(loss.scalar), metaAccuracy: dm.accuracy,
            meanInnerLearningRate: config.innerLearningRate, meanInnerMomentum: config.innerMomentum,
            metaLearningRate: config.gan.learningRate, gradientNorm: norm.squareRoot(),
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
            discriminatorLoss: dm.loss, discriminatorAccuracy: dm.accuracy, adversarialLoss: Double(loss.scalar))
    }

    /// GTN + GAN: the adversarial loss of one inner-loop batch (step iteration mod T of this
    /// iteration's first learner's episode) and its gradient with respect to the teacher's
    /// parameters (`state.parameters` order), and the images and labels it was computed on.
    func adversarialGradient(iteration: Int) -> (
        loss: Double, gradients: [Tensor<Float>], images: Tensor<Float>, labels: Tensor<Float>
    ) {
        let episode = self.episode(seed: episodeSeed(iteration: iteration), iteration: iteration)
        let meta = state.parameters.map { Variable($0, requiresGrad: true) }
        let teacher = teacherVariables(meta)
        let t = iteration % config.innerSteps
        let (images, _) = trainingBatch(step: t, teacher: teacher, episode: episode)
        let loss = adversarialLoss(images: images, labels: Variable(episode.labels))
        let grads = gradients(of: loss, wrt: meta).map(\.value)
        return (Double(loss.scalar), grads, images.value, episode.labels)
    }
}

extension MetaTrainer {
    /// The adversarial gradient GTN + GAN adds (before λ) at `iteration`, for tests.
    public func adversarialGradientForTesting(iteration: Int) -> [Tensor<Float>] {
        adversarialGradient(iteration: iteration).gradients
    }
}
