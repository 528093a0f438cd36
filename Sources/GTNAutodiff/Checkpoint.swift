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
    let shapes = outputs.map(\.shape)
    let sizes = shapes.map { $0.reduce(1, *) }
    // The outputs travel as one flat node whose pullback replays the segment once for all of them.
    var flat = [S]()
    flat.reserveCapacity(sizes.reduce(0, +))
    for o in outputs { flat += o.value.scalars }
    let hub = Variable.record(Tensor(shape: [flat.count], scalars: flat), "checkpoint", inputs) { g, _, needs in
        var offset = 0
        let seeds = zip(shapes, sizes).map { shape, size in
            defer { offset += size }
            return g.slice(axis: 0, offset ..< offset + size).reshaped(shape)
        }
        let wrt: [Variable<S>]
        let replayed: [Variable<S>]
        if Tape.isRecording {
            wrt = inputs
            replayed = body(inputs)
        } else {
            wrt = inputs.map { Variable($0.value, requiresGrad: true) }
            replayed = Tape.recording(true) { body(wrt) }
        }
        let grads = gradients(of: replayed, seeds: seeds, wrt: wrt, createGraph: Tape.isRecording)
        return zip(grads, needs).map { $1 ? $0 : nil }
    }
    if !hub.requiresGrad { return outputs.map(\.detached) }
    var offset = 0
    return zip(shapes, sizes).map { shape, size in
        defer { offset += size }
        return hub.slice(axis: 0, offset ..< offset + size).reshaped(shape)
    }
}
