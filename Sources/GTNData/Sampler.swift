import GTNTensor

/// Shuffled mini-batches over a data set, epoch after epoch, as a function of a seed.
///
/// Each epoch visits the examples in a fresh random order (Fisher-Yates driven by one
/// `RandomSource`, so the whole stream of batches is reproducible from `seed`). With `dropLast` a
/// final batch smaller than `batchSize` is skipped, so every batch has exactly `batchSize` examples.
/// The stream never ends: `next()` never returns nil.
public struct BatchSampler: IteratorProtocol, Sendable {
    public let dataset: Dataset
    public let batchSize: Int
    public let dropLast: Bool
    /// The epoch of the batch last returned (0 for the first epoch; a new epoch starts, and this
    /// increases, when a batch is asked for after the current epoch is used up).
    public private(set) var epoch = 0
    /// How many examples of the current epoch's order have been returned.
    public private(set) var position = 0
    private var rng: RandomSource
    private var order: [Int]

    public init(dataset: Dataset, batchSize: Int, seed: UInt64, dropLast: Bool = true) {
        precondition(batchSize > 0, "BatchSampler: batch size \(batchSize) must be positive")
        precondition(dataset.count > 0, "BatchSampler: empty data set")
        precondition(
            !dropLast || batchSize <= dataset.count,
            "BatchSampler: batch size \(batchSize) exceeds the \(dataset.count) examples, and dropLast is set")
        self.dataset = dataset
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.rng = RandomSource(seed: seed)
        self.order = Array(0..<dataset.count)
        shuffleInPlace(&order, using: &rng)
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The next batch (`IteratorProtocol`; never nil).
    public mutating func next() -> Batch? { nextBatch() }

    /// The next batch, starting a freshly shuffled epoch when the current one is used up.
    public mutating func nextBatch() -> Batch {
        let remaining = order.count - position
        if remaining == 0 || (dropLast && remaining < batchSize) {
            shuffleInPlace(&order, using: &rng)
            position = 0
            epoch += 1
        }
        let end = min(position + batchSize, order.count)
        let indices = Array(order[position..<end])
        position = end
        return dataset.batch(indices)
    }

    /// Batches still to come in the current epoch.
    public var batchesLeftInEpoch: Int {
        let remaining = order.count - position
        return dropLast ? remaining / batchSize : (remaining + batchSize - 1) / batchSize
    }
}

/// Uniform integer in `0..<n` (Lemire's multiply-and-reject, unbiased), independent of the
/// standard library's algorithms so the stream is stable across Swift versions.
@inline(__always)
func uniformIndex(below n: Int, using rng: inout RandomSource) -> Int {
    let bound = UInt64(n)
    var m = rng.next().multipliedFullWidth(by: bound)
    if m.low < bound {
        let threshold = (0 &- bound) % bound
        while m.low < threshold { m = rng.next().multipliedFullWidth(by: bound) }
    }
    return Int(m.high)
}

/// Fisher-Yates shuffle.
func shuffleInPlace(_ a: inout [Int], using rng: inout RandomSource) {
    var i = a.count - 1
    while i > 0 {
        a.swapAt(i, uniformIndex(below: i + 1, using: &rng))
        i -= 1
    }
}

/// `k` distinct indices of `0..<n` in random order.
func sampleWithoutReplacement(_ k: Int, from n: Int, using rng: inout RandomSource) -> [Int] {
    precondition(k >= 0 && k <= n, "sample: cannot draw \(k) distinct examples from \(n)")
    if k * 8 < n {
        // Few of many: rejection into a set, cheaper than permuting all n.
        var seen = Set<Int>(minimumCapacity: k)
        var out: [Int] = []
        out.reserveCapacity(k)
        while out.count < k {
            let i = uniformIndex(below: n, using: &rng)
            if seen.insert(i).inserted { out.append(i) }
        }
        return out
    }
    // Partial Fisher-Yates: the first k positions of a random permutation.
    var a = Array(0..<n)
    for i in 0..<k { a.swapAt(i, i + uniformIndex(below: n - i, using: &rng)) }
    return Array(a[0..<k])
}
