import Foundation
import GTNData
import GTNIO
import GTNTensor

/// A teacher's synthetic training set (`gtn export`): the T batches of B examples with which it
/// teaches a fresh learner, in step order, so that other frameworks' models can be trained on it.
/// Image rows t*B ..< (t+1)*B are the batch of inner step t.
public struct SyntheticDataset {
    /// [T*B, C, H, W], in the learner's input space (normalised, as real data after `Normalization`).
    public var images: Tensor<Float>
    /// [T*B, classes]: one-hot, the dark-knowledge generator's soft labels, or the learned labels.
    public var targets: Tensor<Float>
    public var steps: Int
    public var batchSize: Int
    /// The meta-learned inner learning rate and momentum of each step: the schedule the data
    /// was made for (a learner trained on it with another schedule learns less).
    public var learningRates: [Float]
    public var momenta: [Float]

    /// The batches of the episode drawn from `seed` (the noise, and for a curriculum its order).
    public init(teacher: MetaTrainer, seed: UInt64 = 0) throws {
        guard teacher.config.teacher != .real else {
            throw ConfigError(
                message: "the real-data teacher has no synthetic data to export (its batches are real images)")
        }
        let batches = teacher.generatedBatches(seed: seed)
        func stacked(_ parts: [Tensor<Float>]) -> Tensor<Float> {
            Tensor(
                shape: [parts.map { $0.shape[0] }.reduce(0, +)] + parts[0].shape.dropFirst(),
                scalars: parts.flatMap(\.scalars))
        }
        images = stacked(batches.map(\.images))
        targets = stacked(batches.map(\.targets))
        steps = batches.count
        batchSize = batches.first?.images.shape[0] ?? 0
        (learningRates, momenta) = (teacher.innerLearningRates, teacher.innerMomenta)
    }

    public var count: Int { images.shape[0] }
    /// The class of each image: its target's largest entry.
    public var labels: [Int] { targets.argmaxRows() }
    /// The inner step of each image.
    public var stepOfImage: [Int] { (0..<count).map { $0 / max(batchSize, 1) } }

    /// Bytes 0...255 through the data's normalisation, as the real images were before it:
    /// pixel = (x * std + mean) * 255, rounded. Generated images may leave the real pixel range
    /// (the generator's output is 2 tanh); such values are clipped, and their share returned.
    public func pixels(_ normalization: Normalization) -> (pixels: [UInt8], clipped: Double) {
        let c = images.shape[1]
        let plane = images.shape[2] * images.shape[3]
        precondition(
            normalization.channels == c, "SyntheticDataset: \(c) channels, normalisation for \(normalization.channels)")
        var clipped = 0
        let out = images.scalars.enumerated().map { i, x -> UInt8 in
            let ch = (i / plane) % c
            let v = ((x * normalization.std[ch] + normalization.mean[ch]) * 255).rounded()
            if v < 0 || v > 255 { clipped += 1 }
            return UInt8(min(max(v, 0), 255))
        }
        return (out, Double(clipped) / Double(max(out.count, 1)))
    }

    /// MNIST's IDX format (grey images only): train-images-idx3-ubyte, train-labels-idx1-ubyte
    /// and train-steps-idx1-ubyte (the inner step of each image) in `directory`.
    public func writeIDX(to directory: String, normalization: Normalization) throws -> Double {
        guard images.shape[1] == 1 else {
            throw ConfigError(
                message: "IDX holds grey images; these have \(images.shape[1]) channels (use --format npz or png)")
        }
        guard targets.shape[1] <= 256, steps <= 256 else {
            throw ConfigError(message: "IDX labels are bytes: \(targets.shape[1]) classes or \(steps) steps do not fit")
        }
        try createDirectory(directory)
        let (p, clipped) = pixels(normalization)
        let files: [(String, [UInt8])] = [
            (
                "train-images-idx3-ubyte",
                IDX.encodeImages(p, count: count, rows: images.shape[2], cols: images.shape[3])
            ),
            ("train-labels-idx1-ubyte", IDX.encodeLabels(labels.map { UInt8($0) })),
            ("train-steps-idx1-ubyte", IDX.encodeLabels(stepOfImage.map { UInt8($0) })),
        ]
        for (name, bytes) in files { try writeAtomically(Data(bytes), to: directory + "/" + name) }
        return clipped
    }

    /// NumPy's .npz: images (float32, normalised, as the learner sees them), targets, labels,
    /// steps, the normalisation's mean and std (to undo it), and the learned schedule.
    public func writeNPZ(to path: String, normalization: Normalization) throws {
        try NumPy.writeNPZ(
            [
                ("images", .init(float32: images.scalars, shape: images.shape)),
                ("targets", .init(float32: targets.scalars, shape: targets.shape)),
                ("labels", .init(int64: labels, shape: [count])),
                ("steps", .init(int64: stepOfImage, shape: [count])),
                ("mean", .init(float32: normalization.mean, shape: [normalization.channels])),
                ("std", .init(float32: normalization.std, shape: [normalization.channels])),
                ("learning_rates", .init(float32: learningRates, shape: [learningRates.count])),
                ("momenta", .init(float32: momenta, shape: [momenta.count])),
            ], to: path)
    }

    /// One PNG per image, `step-01/00000-label-3.png`, through the normalisation as for IDX.
    public func writePNGs(to directory: String, normalization: Normalization) throws -> Double {
        let (p, clipped) = pixels(normalization)
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        let labels = labels
        let digits = String(steps).count
        for t in 0..<steps { try createDirectory(directory + "/step-" + String(format: "%0\(max(2, digits))d", t + 1)) }
        for i in 0..<count {
            // PNG wants interleaved channels (HWC); the tensor is planar (CHW).
            let image = (0..<(h * w * c)).map { k in p[i * c * h * w + (k % c) * h * w + k / c] }
            let name = String(
                format: "%@/step-%0\(max(2, digits))d/%05d-label-%d.png", directory, stepOfImage[i] + 1, i, labels[i])
            try writePNG(path: name, width: w, height: h, channels: c, pixels: image)
        }
        return clipped
    }
}
