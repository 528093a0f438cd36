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
public func checkpointed<S>(_ inputs: [Variable<S>],
                           _ body: @escaping ([Variable<S>]) -> [Variable<S>]) -> [Variable<S>] {
    // Forward: on cut copies of the inputs, so the segment's graph dies with this scope.
    let outputs = body(inputs.map { Variable($0.value, requiresGrad: $0.requiresGrad) })

    // The outputs hang off one empty "segment" node whose parents are the inputs. A backward pass
    // reaches every output before the segment node (outputs are created later), so each output's
    // pullback parks its gradient in `seeds`; the segment's pullback then replays `body` once for
    // all of them and clears the slots for the next pass.
    let seeds = SeedSlots<S>(outputs.map(\.shape))
    let segment = Variable.record(Tensor<S>.zeros([0]), "checkpoint", inputs) { _, _, needs in
        let grads: [Variable<S>]
        if Tape.isRecording {
            grads = gradients(of: body(inputs), seeds: seeds.take(), wrt: inputs, createGraph: true)
        } else {
            let leaves = inputs.map { Variable($0.value, requiresGrad: true) }
            let replayed = Tape.recording(true) { body(leaves) }
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
