import GTNTensor

/// Reverse-mode differentiation: gradients of `outputs` (weighted by `seeds`, ones by default)
/// with respect to `inputs`.
///
/// - `createGraph`: record the backward pass, so the returned gradients can be differentiated
///   again (needed for meta-gradients through an inner training loop).
/// - Only nodes on a path from an input to an output are visited, so asking for the gradient
///   with respect to an intermediate node does not traverse the graph above it.
/// - An input the outputs do not depend on gets a zero gradient.
/// - `retainGraph` (default: `createGraph`): keep the graph usable for another backward pass.
///   When false, each node's pullback and saved tensors are dropped as soon as it has been used, so
///   memory falls as the pass proceeds; a second pass over the same graph is then an error.
public func gradients<S>(
    of outputs: [Variable<S>], seeds: [Variable<S>]? = nil,
    wrt inputs: [Variable<S>], createGraph: Bool = false,
    retainGraph: Bool? = nil
) -> [Variable<S>] {
    let retain = retainGraph ?? createGraph
    if let seeds {
        precondition(seeds.count == outputs.count, "gradients: \(seeds.count) seeds for \(outputs.count) outputs")
        for (o, s) in zip(outputs, seeds) {
            precondition(o.shape == s.shape, "gradients: seed of shape \(s.shape) for output of shape \(o.shape)")
        }
    }
    let targets = Set(inputs.map(\.id))

    // 1. Every node reachable from the outputs through nodes that need gradients.
    var nodes: [Int: Variable<S>] = [:]
    var stack = outputs.filter(\.requiresGrad)
    while let n = stack.popLast() {
        if nodes[n.id] != nil { continue }
        precondition(
            !n.isReleased,
            "gradients: the graph through \(n.op) was freed by an earlier backward pass; pass retainGraph: true to "
                + "that pass to differentiate it twice"
        )
        nodes[n.id] = n
        for p in n.parents where p.requiresGrad && nodes[p.id] == nil { stack.append(p) }
    }
    // 2. Which of them lead to an input (parents come first in id order).
    let order = nodes.keys.sorted()
    var leadsToInput = Set<Int>()
    for id in order {
        let n = nodes[id]!
        if targets.contains(id) || n.parents.contains(where: { leadsToInput.contains($0.id) }) {
            leadsToInput.insert(id)
        }
    }

    // 3. Walk backwards, pulling gradients through every node that leads to an input.
    var grads: [Int: Variable<S>] = [:]
    var results: [Int: Variable<S>] = [:]
    Tape.recording(createGraph) {
        for (i, o) in outputs.enumerated() where leadsToInput.contains(o.id) {
            let seed = seeds?[i] ?? Variable(Tensor<S>.ones(o.shape))
            grads[o.id] = grads[o.id].map { $0 + seed } ?? seed
        }
        for id in order.reversed() where leadsToInput.contains(id) {
            guard let g = grads.removeValue(forKey: id) else { continue }
            let n = nodes[id]!
            if targets.contains(id) { results[id] = g }
            guard let pullback = n.pullback else { continue }
            let needs = n.parents.map { leadsToInput.contains($0.id) }
            if !needs.contains(true) { continue }
            let parentGrads = pullback(g, n, needs)
            let parents = n.parents
            if !retain {
                n.releaseGraph()
                nodes[id] = nil
            }
            for (k, p) in parents.enumerated() where needs[k] {
                guard let pg = parentGrads[k] else { continue }
                precondition(
                    pg.shape == p.shape,
                    "gradients: pullback of \(n.op) gave shape \(pg.shape) for a parent of shape \(p.shape)")
                grads[p.id] = grads[p.id].map { $0 + pg } ?? pg
            }
        }
    }
    return inputs.map { results[$0.id] ?? Variable(Tensor<S>.zeros($0.shape)) }
}

/// Gradient of one output (ones-seeded, so a scalar loss gives the usual gradient).
public func gradients<S>(
    of output: Variable<S>, wrt inputs: [Variable<S>],
    createGraph: Bool = false, retainGraph: Bool? = nil
) -> [Variable<S>] {
    gradients(of: [output], wrt: inputs, createGraph: createGraph, retainGraph: retainGraph)
}
