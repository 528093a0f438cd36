import Foundation
import GTNAutodiff
import GTNData
import GTNIO
import GTNNN
import GTNTensor

/// A frozen classifier trained once on real data (`gtn classifier train`), the yardstick of
/// realism and mode coverage for generated images (the Inception network's role in IS and FID,
/// for data sets where no such network exists).
public struct ReferenceClassifier {
    public var learner: LearnerConfig
    public var trained: TrainedLearner
    /// What it was trained on, and how well it does there (validation accuracy).
    public var data: String
    public var validationAccuracy: Double

    public static let format = "gtn-classifier"

    /// Trains a base_fc learner (no weight norm) on `splits.train` for `epochs` epochs of SGD with
    /// momentum 0.9, learning rate cosine-annealed from `learningRate`, batch 128.
    public static func train(
        _ splits: DataSplits, epochs: Int = 2, learningRate: Double = 0.05, seed: UInt64 = 0,
        progress: ((_ step: Int, _ of: Int) -> Void)? = nil
    ) -> ReferenceClassifier {
        let shape = splits.imageShape
        var config = LearnerConfig(
            kind: .baseFC, image: ImageShape(channels: shape[0], height: shape[1], width: shape[2]),
            classes: splits.classes)
        config.weightNorm = false
        var rng = RandomSource(seed: seed)
        let initial: ParameterList<Float> = config.initialParameters(&rng)
        let batch = 128
        let steps = max(1, epochs * splits.train.count / batch)
        let lrs = (0..<steps).map { t in
            Float(learningRate * 0.5 * (1 + Foundation.cos(Double.pi * Double(t) / Double(steps))))
        }
        var data = RandomSource(seed: seed ^ 0xC1A5)
        let learner = trainLearner(
            config, initialWeights: initial.values.map(\.value), steps: steps, learningRates: lrs,
            momenta: [Float](repeating: 0.9, count: steps),
            batch: { _ in
                let b = splits.train.randomBatch(size: batch, using: &data)
                return (b.images, oneHot(b.labels, classes: splits.classes))
            }, afterStep: { t, _ in progress?(t + 1, steps) })
        return ReferenceClassifier(
            learner: config, trained: learner, data: splits.name,
            validationAccuracy: learner.accuracy(on: splits.validation))
    }

    public func save(to path: String) throws {
        var file = SafeTensorsFile()
        for (spec, w) in zip(learner.specs, trained.weights) { file.tensors["weights.\(spec.name)"] = w }
        for (i, m) in trained.means.enumerated() { file.tensors["means.\(i)"] = m }
        let config = String(decoding: try JSONEncoder.sorted.encode(learner), as: UTF8.self)
        file.metadata = [
            "format": Self.format, "learner": config, "data": data,
            "validationAccuracy": String(validationAccuracy), "means": String(trained.means.count),
        ]
        try file.write(path: path)
    }

    public static func load(path: String) throws -> ReferenceClassifier {
        let file = try SafeTensorsFile.read(path: path)
        guard file.metadata["format"] == format, let json = file.metadata["learner"]?.data(using: .utf8),
            let count = Int(file.metadata["means"] ?? "")
        else {
            throw CheckpointError(path: path, message: "not a reference classifier (written by gtn classifier train)")
        }
        let config = try JSONDecoder().decode(LearnerConfig.self, from: json)
        let weights = try config.specs.map { try file.tensor("weights.\($0.name)", source: path) }
        let means = try (0..<count).map { try file.tensor("means.\($0)", source: path) }
        return ReferenceClassifier(
            learner: config, trained: TrainedLearner(config: config, weights: weights, means: means),
            data: file.metadata["data"] ?? "?",
            validationAccuracy: Double(file.metadata["validationAccuracy"] ?? "") ?? .nan)
    }

    /// Penultimate features (Float64, [N, F] row-major) and class probabilities of `images`.
    public func featuresAndProbabilities(_ images: Tensor<Float>, chunk: Int = 1000) -> (
        features: [Double], dimension: Int, probabilities: Tensor<Float>
    ) {
        var features: [Double] = []
        var probabilities: [Float] = []
        var dimension = 0
        trained.inEvaluationChunks(images, chunk: chunk) { params, means, x in
            let out = learner.forward(params, x, means: &means)
            dimension = out.features.shape[1]
            features += out.features.value.scalars.map(Double.init)
            probabilities += out.logProbabilities.value.exp().scalars
        }
        return (features, dimension, Tensor(shape: [images.shape[0], learner.classes], scalars: probabilities))
    }
}

/// How realistic and how varied a set of generated images is, by the reference classifier.
public struct SampleScores: Codable, Sendable, Equatable {
    /// exp(E_x KL(p(y|x) || p(y))): 1 for uniform predictions or a single class, up to the number
    /// of classes for confident predictions spread evenly (the Inception score's definition).
    public var classifierScore: Double
    /// Fréchet distance between Gaussians fitted to the penultimate features of the generated and
    /// the real images (FID's definition, on the reference classifier's features).
    public var frechetDistance: Double?
    /// Classes predicted for at least a tenth of their even share of the samples, and the entropy
    /// (nats) of the predicted-class histogram (ln K when all classes are predicted equally often).
    public var classesCovered: Int
    public var classEntropy: Double
    /// For a conditional generator: the fraction of samples classified as the label asked for.
    public var labelAgreement: Double?
    public var samples: Int

    /// Scores of `probabilities` [N, K] alone (no features: no Fréchet distance).
    public static func of(probabilities p: Tensor<Float>, requested: [Int]? = nil) -> SampleScores {
        let (n, k) = (p.shape[0], p.shape[1])
        var marginal = [Double](repeating: 0, count: k)
        for i in 0..<n { for j in 0..<k { marginal[j] += Double(p.scalars[i * k + j]) / Double(n) } }
        var kl = 0.0
        for i in 0..<n {
            for j in 0..<k {
                let q = Double(p.scalars[i * k + j])
                if q > 0 && marginal[j] > 0 { kl += q * Foundation.log(q / marginal[j]) }
            }
        }
        let predicted = p.argmaxRows()
        var histogram = [Int](repeating: 0, count: k)
        for c in predicted { histogram[c] += 1 }
        let share = histogram.map { Double($0) / Double(max(n, 1)) }
        let entropy = -share.filter { $0 > 0 }.reduce(0) { $0 + $1 * Foundation.log($1) }
        let covered = share.filter { $0 >= 0.1 / Double(k) }.count
        let agreement = requested.map { r in
            Double(zip(predicted, r).filter { $0 == $1 }.count) / Double(max(n, 1))
        }
        return SampleScores(
            classifierScore: Foundation.exp(kl / Double(max(n, 1))), frechetDistance: nil, classesCovered: covered,
            classEntropy: entropy, labelAgreement: agreement, samples: n)
    }

    /// All scores of `generated` images (with the labels asked for, if conditional) against `real` ones.
    public static func measure(
        _ generated: Tensor<Float>, requested: [Int]?, real: Tensor<Float>, classifier: ReferenceClassifier
    ) throws -> SampleScores {
        let g = classifier.featuresAndProbabilities(generated)
        let r = classifier.featuresAndProbabilities(real)
        var s = of(probabilities: g.probabilities, requested: requested)
        s.frechetDistance = try frechetDistance(g.features, r.features, dimension: g.dimension)
        return s
    }

    /// The scores of a teacher's training images: `episodes` episodes of T x B (seeds 0, 1, ...),
    /// with the labels they were made for, against as many of `test`'s first images. Throws a
    /// `ConfigError` for the real-data teacher, which has no images of its own.
    public static func measure(
        teacher: MetaTrainer, episodes: Int = 1, test: Dataset, classifier: ReferenceClassifier
    ) throws -> SampleScores {
        let parts = try (0..<episodes).map { try SyntheticDataset(teacher: teacher, seed: UInt64($0)) }
        let images = Tensor(
            shape: [parts.map { $0.images.shape[0] }.reduce(0, +)] + parts[0].images.shape.dropFirst(),
            scalars: parts.flatMap(\.images.scalars))
        let real = test.slice(0..<min(images.shape[0], test.count))
        return try measure(
            images, requested: parts.flatMap { $0.targets.argmaxRows() }, real: real.images, classifier: classifier)
    }

    /// |μ1 - μ2|² + tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½) of Gaussians fitted to two sets of feature rows.
    public static func frechetDistance(_ a: [Double], _ b: [Double], dimension d: Int) throws -> Double {
        func moments(_ x: [Double]) -> (mean: [Double], covariance: [Double]) {
            let n = x.count / d
            var mean = [Double](repeating: 0, count: d)
            for i in 0..<n { for j in 0..<d { mean[j] += x[i * d + j] / Double(n) } }
            var centred = x
            for i in 0..<n { for j in 0..<d { centred[i * d + j] -= mean[j] } }
            var cov = [Double](repeating: 0, count: d * d)
            // Σ = Xcᵀ Xc / (n - 1), through BLAS.
            centred.withUnsafeBufferPointer { c in
                cov.withUnsafeMutableBufferPointer { s in
                    LinearAlgebra.gramMatrix(
                        c.baseAddress!, rows: n, columns: d, scale: 1 / Double(max(n - 1, 1)), into: s.baseAddress!)
                }
            }
            return (mean, cov)
        }
        let (m1, s1) = moments(a)
        let (m2, s2) = moments(b)
        let meanTerm = zip(m1, m2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let traces = (0..<d).reduce(0) { $0 + s1[$1 * d + $1] + s2[$1 * d + $1] }
        return meanTerm + traces - 2 * (try LinearAlgebra.traceSqrtProduct(s1, s2, n: d))
    }
}
