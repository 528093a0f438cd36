import GTNTensor

/// How the generator's input noise is chosen at each inner step (paper Fig. 1c).
public enum CurriculumKind: String, Sendable, Codable, CaseIterable {
    /// Fresh random noise at every step; nothing is learned.
    case none
    /// A learned pool of T*B noise vectors; each step draws B of them at random.
    case allShuffled = "all_shuffled"
    /// T learned batches; each step draws one whole batch at random.
    case shuffledBatch = "shuffled_batch"
    /// T learned batches used in order: batch t at step t (the paper's best).
    case full

    public var isLearned: Bool { self != .none }

    /// Shape of the learned noise parameter.
    public func parameterShape(steps: Int, batch: Int, noise: Int) -> [Int] {
        self == .allShuffled ? [steps * batch, noise] : [steps, batch, noise]
    }

    /// For each step, which rows of the flattened [T*B, noise] pool it reads (nil for `.none`).
    public func rows(steps: Int, batch: Int, rng: inout RandomSource) -> [[Int]]? {
        switch self {
        case .none: return nil
        case .full: return (0..<steps).map { t in Array(t * batch..<(t + 1) * batch) }
        case .shuffledBatch:
            return (0..<steps).map { _ in
                let b = Int(rng.next() % UInt64(steps))
                return Array(b * batch..<(b + 1) * batch)
            }
        case .allShuffled:
            var pool = Array(0..<(steps * batch))
            pool.shuffle(using: &rng)
            return (0..<steps).map { t in Array(pool[t * batch..<(t + 1) * batch]) }
        }
    }
}

/// Evenly distributed labels: example i of a batch has class i mod classes.
public func curriculumLabels(batch: Int, classes: Int) -> [Int] { (0..<batch).map { $0 % classes } }
