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
public func checkpointed<S>(_ inputs: [Variable<S>], replay policy: ReplayPolicy = .current,
                           _ body: @escaping ([Variable<S>]) -> [Variable<S>]) -> [Variable<S>] {
    let memo: ReplayMemo<S>?
    switch policy {
    case .recomputeAll: memo = nil
    case .keepProducts(let minimumCost): memo = ReplayMemo(minimumCost: minimumCost)
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
    /// the environment sets GTN_CHECKPOINT_REPLAY=all (`recomputeAll`, for A/B measurements;
    /// results are the same either way). Task-local, like `ConvAlgorithm.current`.
    @TaskLocal public static var current: ReplayPolicy =
        ProcessInfo.processInfo.environment["GTN_CHECKPOINT_REPLAY"] == "all" ? .recomputeAll : .keepProducts(minimumCost: 512)
}

/// The results of a checkpointed segment's costly ops (matrix products, convolutions), in the
/// order its first run computed them, handed back in that order when the segment is replayed.
/// A replay that asks for another op (by name and input shapes) than the one recorded next, as
/// a segment that is not the pure function `checkpointed` requires would, stops using the memo
/// and computes everything from there on.
final class ReplayMemo<S: TensorScalar> {
    let minimumCost: Int
    private var kept: [(key: String, value: Tensor<S>)] = []
    private var cursor = 0
    private var replaying = false
    private var broken = false

    init(minimumCost: Int) { self.minimumCost = minimumCost }

    func finishRecording() { replaying = true }

    /// A view for one replay, starting at the first kept result.
    func rewound() -> ReplayMemo {
        cursor = 0
        return self
    }

    /// `key` names the op and its inputs' shapes.
    func value(_ key: String, _ compute: () -> Tensor<S>) -> Tensor<S> {
        guard replaying else {
            let v = compute()
            kept.append((key, v))
            return v
        }
        guard !broken, cursor < kept.count, kept[cursor].key == key else {
            broken = true
            return compute()
        }
        defer { cursor += 1 }
        return kept[cursor].value
    }
}
