import Foundation
import GTNTensor

/// Gradient checkpointing: runs `body` now but keeps none of its graph, only its outputs; a
/// backward pass through the outputs runs `body` again to rebuild the graph it needs.
///
/// Memory then grows with the number of checkpointed segments instead of with every node inside
/// them; the price is one more forward of each segment. `body` must be a pure function of
/// `inputs`: anything differentiable it uses must be passed in `inputs` (a variable it captures
/// gets no gradient through the segment), and randomness must come from values it is given.
///
/// Works at any order: when the enclosing backward pass records (`createGraph: true`), the
/// segment is rebuilt on the real inputs, so the gradients it returns stay connected to them.
///
/// With `replay: .keepProducts` (the default), the replay does not compute the segment's costly
/// matrix products and convolutions again: their results from the first run are kept (a
/// `ReplayMemo`) and handed back in the same order, which saves most of the replay's arithmetic
/// for a fraction of the graph's memory (elementwise results, the bulk of it, are recomputed).
/// This is PyTorch's selective activation checkpointing with the policy "save matmul outputs".
/// The replayed values are the very tensors of the first run, so results are bitwise the same.
public func checkpointed<S>(
    _ inputs: [Variable<S>], replay policy: ReplayPolicy = .current,
    _ body: @escaping ([Variable<S>]) -> [Variable<S>]
) -> [Variable<S>] {
    let memo: ReplayMemo<S>?
    switch policy {
    case .recomputeAll: memo = nil
    case .keepProducts(let minimumCost): memo = ReplayMemo(minimumCost: minimumCost, budget: ReplayBudget.current)
    }
    // Forward: on cut copies of the inputs, so the segment's graph dies with this scope.
    let outputs = Tape.$replayMemo.withValue(memo) {
        body(inputs.map { Variable($0.value, requiresGrad: $0.requiresGrad) })
    }
    memo?.finishRecording()
    let replay = { (ins: [Variable<S>]) in Tape.$replayMemo.withValue(memo?.rewound()) { body(ins) } }

    // The outputs hang off one empty "segment" node whose parents are the inputs. A backward pass
    // reaches every output before the segment node (outputs are created later), so each output's
    // pullback parks its gradient in `seeds`; the segment's pullback then replays `body` once for
    // all of them and clears the slots for the next pass.
    let seeds = SeedSlots<S>(outputs.map(\.shape))
    let segment = Variable.record(Tensor<S>.zeros([0]), "checkpoint", inputs) { _, _, needs in
        let grads: [Variable<S>]
        if Tape.isRecording {
            grads = gradients(of: replay(inputs), seeds: seeds.take(), wrt: inputs, createGraph: true)
        } else {
            let leaves = inputs.map { Variable($0.value, requiresGrad: true) }
            let replayed = Tape.recording(true) { replay(leaves) }
            grads = gradients(of: replayed, seeds: seeds.take(), wrt: leaves)
        }
        return zip(grads, needs).map { $1 ? $0 : nil }
    }
    if !segment.requiresGrad { return outputs.map(\.detached) }
    return outputs.enumerated().map { i, o in
        Variable.record(o.value, "checkpointOutput", [segment]) { g, _, _ in
            seeds.put(i, g)
            return [Variable(Tensor<S>.zeros([0]))]
        }
    }
}

/// Per-output gradient slots of one checkpointed segment (see `checkpointed`).
final class SeedSlots<S: TensorScalar> {
    let shapes: [[Int]]
    var slots: [Variable<S>?]
    init(_ shapes: [[Int]]) { (self.shapes, slots) = (shapes, Array(repeating: nil, count: shapes.count)) }

    func put(_ i: Int, _ g: Variable<S>) { slots[i] = slots[i].map { $0 + g } ?? g }

    /// The parked gradients (zeros for outputs the pass did not reach), emptying the slots.
    func take() -> [Variable<S>] {
        defer { slots = Array(repeating: nil, count: shapes.count) }
        return zip(slots, shapes).map { $0 ?? Variable(Tensor<S>.zeros($1)) }
    }
}

/// What a checkpointed segment keeps from its first run for its replay (see `checkpointed`).
public enum ReplayPolicy: Sendable, Hashable {
    /// Keep nothing but the outputs: the replay computes everything again (least memory).
    case recomputeAll
    /// Keep the results of matrix products and convolutions that cost at least `minimumCost`
    /// multiply-adds x 2 per output element. The default, 512, keeps a convolution over 32 x 3 x 3
    /// inputs or a product with k >= 256, and recomputes cheap, large results such as a
    /// convolution over one input channel (the learner's first layer: 18 per element, 25 MB).
    case keepProducts(minimumCost: Int)

    /// The policy of segments whose caller names none: `keepProducts(minimumCost: 512)`, unless
    /// the environment's GTN_CHECKPOINT_REPLAY says `all` (`recomputeAll`) or a number (the
    /// minimum cost), for A/B measurements: results are the same either way. Task-local, like
    /// `ConvAlgorithm.current`.
    @TaskLocal public static var current: ReplayPolicy = {
        let setting = ProcessInfo.processInfo.environment["GTN_CHECKPOINT_REPLAY"] ?? ""
        if setting == "all" { return .recomputeAll }
        return .keepProducts(minimumCost: Int(setting) ?? 512)
    }()
}

/// How many bytes the checkpointed segments of one computation may keep for their replays, in
/// all (`ReplayPolicy.keepProducts`). A segment that would go over keeps nothing more: its replay
/// reuses what it kept and computes the rest. Set for a scope with
/// `ReplayBudget.$current.withValue(ReplayBudget(bytes: ...)) { ... }`; none means no limit.
public final class ReplayBudget: @unchecked Sendable {
    /// Bytes still free. Segments record on the thread that runs them, one at a time.
    public private(set) var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    func take(_ n: Int) -> Bool {
        guard n <= bytes else { return false }
        bytes -= n
        return true
    }

    @TaskLocal public static var current: ReplayBudget? = nil
}

/// The results of a checkpointed segment's costly ops (matrix products, convolutions), by their
/// position among those ops in the segment's first run, handed back at the same positions when
/// the segment is replayed; ops whose results did not fit the budget are computed again. A
/// replay that asks for another op (by name and input shapes) than the first run did at that
/// position, as a segment that is not the pure function `checkpointed` requires would, stops
/// using the memo and computes everything from there on.
final class ReplayMemo<S: TensorScalar> {
    let minimumCost: Int
    let budget: ReplayBudget?
    /// The first run's costly ops, in order, and the results kept, by position.
    private var keys: [String] = []
    private var kept: [Int: Tensor<S>] = [:]
    private var position = 0
    private var replaying = false
    private var broken = false

    init(minimumCost: Int, budget: ReplayBudget?) { (self.minimumCost, self.budget) = (minimumCost, budget) }

    func finishRecording() { replaying = true }

    /// A view for one replay, starting at the first op.
    func rewound() -> ReplayMemo {
        position = 0
        return self
    }

    /// Results that cost at least this much per element are kept past the budget: their size is
    /// that of a weight (a convolution's weight adjoint sums over batch x positions: 2 x 128 x 196
    /// = 50176 per element for the learner's 64->128 layer, for 0.3 MB), so they save the most
    /// arithmetic per byte by far.
    static var alwaysKeptCost: Int { 8192 }

    /// `key` names the op and its inputs' shapes; `cost` is its arithmetic per output element.
    func value(_ key: String, cost: Int, _ compute: () -> Tensor<S>) -> Tensor<S> {
        defer { position += 1 }
        guard replaying else {
            let v = compute()
            keys.append(key)
            if cost >= Self.alwaysKeptCost || budget?.take(v.count * MemoryLayout<S>.stride) ?? true {
                kept[position] = v
            }
            return v
        }
        guard !broken, position < keys.count, keys[position] == key else {
            broken = true
            return compute()
        }
        return kept[position] ?? compute()
    }
}
