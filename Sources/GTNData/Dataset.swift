import GTNTensor

/// Per-channel normalisation `x -> (x / 255 - mean[c]) / std[c]` of byte images, and its inverse.
public struct Normalization: Sendable, Hashable, Codable {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "Normalization: \(mean.count) means, \(std.count) stds")
        self.mean = mean
        self.std = std
    }

    /// MNIST's constants; the official GTN code uses them for Fashion-MNIST too.
    public static let mnist = Normalization(mean: [0.1307], std: [0.3081])
    /// CIFAR-10's per-channel (R, G, B) constants.
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    public var channels: Int { mean.count }

    /// One byte of channel `channel`, normalised.
    public func normalize(_ pixel: UInt8, channel: Int = 0) -> Float {
        (Float(pixel) / 255 - mean[channel]) / std[channel]
    }

    /// Undoes the normalisation: images [..., C, H, W] back to the [0, 1] scale (not clamped, so
    /// generator output outside the data range stays visible as such).
    public func denormalize(_ images: Tensor<Float>) -> Tensor<Float> {
        precondition(
            images.rank >= 3 && images.shape[images.rank - 3] == channels,
            "Normalization.denormalize: images of shape \(images.shape), expected [..., \(channels), H, W]")
        let plane = images.shape[images.rank - 2] * images.shape[images.rank - 1]
        let (mean, std) = (self.mean, self.std)
        return Tensor<Float>(shape: images.shape) { out in
            images.scalars.withUnsafeBufferPointer { src in
                for i in 0..<(images.count / max(plane, 1)) {
                    let c = i % mean.count
                    for p in (i * plane)..<((i + 1) * plane) { out[p] = src[p] * std[c] + mean[c] }
                }
            }
        }
    }

    /// Undoes the normalisation and quantises to bytes (clamped to [0, 255], rounded), same layout:
    /// ready for an image file.
    public func pixelBytes(_ images: Tensor<Float>) -> [UInt8] {
        denormalize(images).scalars.map { UInt8((min(max($0, 0), 1) * 255).rounded()) }
    }
}

/// One batch of examples: images [B, C, H, W] (normalised) and their labels.
public typealias Batch = (images: Tensor<Float>, labels: [Int])

/// A labelled image data set held in memory, normalised.
public struct Dataset: Sendable {
    /// "mnist", "fashion-mnist" or "cifar10".
    public let name: String
    /// [n, C, H, W], normalised with `normalization`.
    public let images: Tensor<Float>
    public let labels: [Int]
    /// Number of classes; every label is in `0..<classes`.
    public let classes: Int
    public let normalization: Normalization

    public init(name: String, images: Tensor<Float>, labels: [Int], classes: Int, normalization: Normalization) {
        precondition(images.rank == 4, "Dataset: images of shape \(images.shape), expected [n, C, H, W]")
        precondition(
            images.shape[0] == labels.count,
            "Dataset: \(images.shape[0]) images but \(labels.count) labels")
        precondition(
            images.shape[1] == normalization.channels,
            "Dataset: \(images.shape[1]) channels but normalisation for \(normalization.channels)")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classes }, "Dataset: label outside 0..<\(classes)")
        self.name = name
        self.images = images
        self.labels = labels
        self.classes = classes
        self.normalization = normalization
    }

    public var count: Int { labels.count }
    /// [C, H, W].
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }
    public var channels: Int { images.shape[1] }
    public var height: Int { images.shape[2] }
    public var width: Int { images.shape[3] }

    /// Human-readable class names (digits for MNIST).
    public var classNames: [String] { Dataset.classNames(for: name, classes: classes) }

    public static func classNames(for name: String, classes: Int) -> [String] {
        switch name {
        case "fashion-mnist":
            return [
                "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
            ]
        case "cifar10":
            return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        default:
            return (0..<classes).map(String.init)
        }
    }

    /// The examples at `indices`, in that order.
    public func batch(_ indices: [Int]) -> Batch {
        let per = images.count / max(count, 1)
        let n = count
        let out = Tensor<Float>(shape: [indices.count] + imageShape) { dst in
            images.scalars.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < n, "Dataset.batch: index \(i) outside 0..<\(n)")
                    (dst.baseAddress! + k * per).initialize(from: src.baseAddress! + i * per, count: per)
                }
            }
        }
        return (out, indices.map { labels[$0] })
    }

    /// The examples in `range`, as a data set of their own.
    public func slice(_ range: Range<Int>) -> Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "Dataset.slice: \(range) outside 0..<\(count)")
        let per = images.count / max(count, 1)
        let imgs = Tensor<Float>(
            shape: [range.count] + imageShape,
            scalars: Array(images.scalars[(range.lowerBound * per)..<(range.upperBound * per)]))
        return Dataset(
            name: name, images: imgs, labels: Array(labels[range]), classes: classes, normalization: normalization)
    }

    /// `size` distinct examples drawn uniformly at random (without replacement).
    public func randomBatch(size: Int, using rng: inout RandomSource) -> Batch {
        batch(sampleWithoutReplacement(size, from: count, using: &rng))
    }

    /// `size` distinct examples drawn with a source seeded by `seed`: the same batch for the same seed.
    public func fixedBatch(size: Int, seed: UInt64) -> Batch {
        var rng = RandomSource(seed: seed)
        return randomBatch(size: size, using: &rng)
    }

    /// One-hot labels [labels.count, classes].
    public func oneHot(_ labels: [Int]) -> Tensor<Float> { oneHotLabels(labels, classes: classes) }

    /// Consecutive batches in data-set order (the last one may be smaller), built lazily: for
    /// evaluation passes.
    public func batchesInOrder(size: Int) -> LazyMapSequence<StrideTo<Int>, Batch> {
        precondition(size > 0, "Dataset.batchesInOrder: batch size \(size) must be positive")
        let n = count
        return stride(from: 0, to: n, by: size).lazy.map { self.batch(Array($0..<min($0 + size, n))) }
    }

    /// A shuffling batch sampler over this data set (see `BatchSampler`).
    public func sampler(batchSize: Int, seed: UInt64, dropLast: Bool = true) -> BatchSampler {
        BatchSampler(dataset: self, batchSize: batchSize, seed: seed, dropLast: dropLast)
    }
}

/// One-hot encoding of `labels`, [labels.count, classes].
public func oneHotLabels(_ labels: [Int], classes: Int) -> Tensor<Float> {
    var t = Tensor<Float>.zeros([labels.count, classes])
    for (i, l) in labels.enumerated() {
        precondition(l >= 0 && l < classes, "oneHotLabels: label \(l) outside 0..<\(classes)")
        t.scalars[i * classes + l] = 1
    }
    return t
}

/// Training, validation and test sets of one data set (the official GTN splits).
public struct DataSplits: Sendable {
    public let name: String
    public let train: Dataset
    public let validation: Dataset
    public let test: Dataset

    public init(name: String, train: Dataset, validation: Dataset, test: Dataset) {
        self.name = name
        self.train = train
        self.validation = validation
        self.test = test
    }

    public var classes: Int { train.classes }
    /// [C, H, W].
    public var imageShape: [Int] { train.imageShape }
    public var normalization: Normalization { train.normalization }
}
