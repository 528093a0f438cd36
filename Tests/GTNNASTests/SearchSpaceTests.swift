import Foundation
import GTN
import GTNAutodiff
import GTNNN
import GTNTensor
import Testing
@testable import GTNNAS

let space = CellSearchSpace(nodes: 4, image: .mnist, classes: 10)

@Test func samplingIsDeterministicBySeedAndValid() {
    var a = RandomSource(seed: 3), b = RandomSource(seed: 3), c = RandomSource(seed: 4)
    let xs = (0..<200).map { _ in space.sample(&a) }
    let ys = (0..<200).map { _ in space.sample(&b) }
    let zs = (0..<200).map { _ in space.sample(&c) }
    #expect(xs == ys)
    #expect(xs != zs)
    #expect(xs.allSatisfy(space.isValid))
    #expect(xs.allSatisfy { $0.nodes.count == 4 && !$0.outputNodes.isEmpty && $0.outputNodes.contains(4) })
    // Every op and every admissible input shows up.
    #expect(Set(xs.flatMap { $0.nodes.flatMap { $0.edges.map(\.op) } }) == Set(CellOp.allCases))
    #expect(Set(xs.map { $0.nodes[3].a.input }) == [0, 1, 2, 3])
    var d = RandomSource(seed: 5)
    let distinct = space.sampleDistinct(50, &d)
    #expect(Set(distinct.map(\.description)).count == 50)
}

@Test func stringFormRoundTrips() throws {
    var rng = RandomSource(seed: 1)
    for _ in 0..<200 {
        let g = space.sample(&rng)
        #expect(CellGenome(g.description) == g)
        #expect(space.genome(g.description) == g)
        #expect(!g.description.contains(","))
        let json = try JSONEncoder().encode(g)
        #expect(try JSONDecoder().decode(CellGenome.self, from: json) == g)
    }
    let text = "conv3x3@0+max3x3@0|sep3x3@1+identity@0|avg3x3@2+conv1x1@1|sep1x1@3+conv3x3@2"
    let g = try #require(CellGenome(text))
    #expect(g.description == text)
    #expect(g.nodes[1].a == .init(input: 1, op: .sepConv3x3))
    #expect(g.outputNodes == [4])
    #expect(g.count(of: .conv3x3) == 2)
    // Malformed or outside the space.
    for bad in ["", "conv3x3@0", "conv3x3@0+foo@0", "conv3x3@x+conv3x3@0", "conv3x3@0+conv3x3@0|"] {
        #expect(CellGenome(bad) == nil, "\(bad)")
    }
    #expect(space.genome("conv3x3@1+conv3x3@0|conv3x3@0+conv3x3@0|conv3x3@0+conv3x3@0|conv3x3@0+conv3x3@0") == nil)  // node 1 reads itself
    #expect(space.genome("conv3x3@0+conv3x3@0") == nil)  // one node, the space has four
}

@Test func mutationChangesExactlyOneChoice() {
    var rng = RandomSource(seed: 9)
    var kinds = Set<String>()
    for _ in 0..<300 {
        let g = space.sample(&rng)
        let m = space.mutate(g, &rng)
        #expect(space.isValid(m))
        var changes: [String] = []
        for (k, (x, y)) in zip(g.nodes, m.nodes).enumerated() {
            for (e, (ex, ey)) in zip(x.edges, y.edges).enumerated() {
                if ex.op != ey.op { changes.append("op \(k).\(e)") }
                if ex.input != ey.input { changes.append("input \(k).\(e)") }
            }
        }
        #expect(changes.count == 1, "\(g) -> \(m): \(changes)")
        kinds.formUnion(changes.map { String($0.prefix(2)) })
    }
    #expect(kinds == ["op", "in"])
    // A one-op space can only rewire; node 1 has a single possible input.
    let convOnly = CellSearchSpace(nodes: 3, ops: [.conv3x3])
    let g = convOnly.sample(&rng)
    let m = convOnly.mutate(g, &rng)
    #expect(m != g && convOnly.isValid(m) && m.nodes[0] == g.nodes[0])
}

@Test func everyOpKeepsShapes() {
    let net = CellNetwork(genome: CellGenome("identity@0+identity@0")!, image: ImageShape(channels: 1, height: 6, width: 6), classes: 3)
    var rng = RandomSource(seed: 2)
    let x = Variable(Tensor<Float>.randomNormal([2, 4, 5, 5], using: &rng))
    for op in CellOp.allCases {
        let specs = net.opSpecs("op", op, channels: 4)
        var p = ParameterList<Float>(specs: specs, rng: &rng)
        p.initialiseWeightNormGains()
        var reader = ParameterReader(p)
        var means = Layers.BatchMeans<Float>.collect
        let y = net.apply(op, x, &reader, "op", means: &means)
        #expect(y.shape == x.shape, "\(op)")
        #expect(means.values.count == (op.hasParameters ? 1 : 0), "\(op)")
        #expect(specs.isEmpty == !op.hasParameters, "\(op)")
    }
}

@Test func networksProduceLogProbabilitiesAndReplayMeans() {
    var rng = RandomSource(seed: 11)
    let small = CellSearchSpace(nodes: 3, image: ImageShape(channels: 1, height: 8, width: 8), classes: 5, channels: 4)
    for _ in 0..<6 {
        let net = small.cellNetwork(for: small.sample(&rng))
        let p: ParameterList<Float> = net.initialParameters(&rng)
        let x = Variable(Tensor<Float>.randomNormal([3, 1, 8, 8], using: &rng))
        var means = Layers.BatchMeans<Float>.collect
        let y = net.logProbabilities(p, x, means: &means)
        #expect(y.shape == [3, 5])
        let sums = y.value.exp().sum(toShape: [3, 1]).scalars
        #expect(sums.allSatisfy { abs($0 - 1) < 1e-4 })
        // Evaluation mode with the stored means computes the same thing on the same batch.
        var stored = Layers.BatchMeans(values: means.values)
        let z = net.logProbabilities(p, x, means: &stored)
        #expect(zip(y.value.scalars, z.value.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(net.parameterCount > 0 && net.forwardMACs > 0)
    }
}

@Test func cellNetworkPassesFirstAndSecondOrderDerivativeChecks() {
    // Every op at least once; an unconsumed middle node (2), so the output averages two nodes.
    let g = CellGenome("conv3x3@0+sep3x3@0|max3x3@1+avg3x3@0|conv1x1@1+identity@0|sep1x1@3+identity@1")!
    #expect(g.outputNodes == [2, 4])
    let net = CellNetwork(genome: g, image: ImageShape(channels: 1, height: 6, width: 6), classes: 3, channels: 2, stages: 2)
    var rng = RandomSource(seed: 21)
    let p: ParameterList<Double> = net.initialParameters(&rng)
    let params = ParameterList(specs: p.specs, values: p.values.map { Variable($0.value) })
    let x = Tensor<Double>.randomNormal([2, 1, 6, 6], using: &rng)
    let r = DerivativeCheck.firstAndSecondOrder(of: { xs in net.logProbabilities(params, xs[0]) }, at: [x])
    #expect(r.first.maxError < 1e-5, "\(r.first)")
    #expect(r.second.maxError < 1e-5, "\(r.second)")
}
