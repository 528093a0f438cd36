import GTN
import GTNTensor

/// A space of learner architectures: how to draw one, how to perturb one, and the learner a genome
/// describes. Search strategies and evaluators only see this protocol, so larger spaces (more
/// nodes, more ops, macro search) plug in beside `CellSearchSpace`.
public protocol SearchSpace: Sendable {
    associatedtype Genome: Hashable, Codable, Sendable, LosslessStringConvertible
    /// A genome drawn uniformly from the space.
    func sample(_ rng: inout RandomSource) -> Genome
    /// A genome that differs from `genome` in exactly one choice (Real et al. 2019's mutations).
    func mutate(_ genome: Genome, _ rng: inout RandomSource) -> Genome
    /// Whether `genome` belongs to this space (string forms read from files may not).
    func isValid(_ genome: Genome) -> Bool
    /// The learner the genome describes.
    func network(for genome: Genome) -> any LearnerArchitecture
}

extension SearchSpace {
    /// Parses and validates a genome's string form.
    public func genome(_ text: String) -> Genome? {
        guard let g = Genome(text), isValid(g) else { return nil }
        return g
    }

    /// `count` distinct genomes (by string form), drawn in order from `rng`. Stops early if the
    /// space runs out of new genomes (many consecutive duplicates).
    public func sampleDistinct(_ count: Int, _ rng: inout RandomSource) -> [Genome] {
        var seen = Set<String>()
        var out: [Genome] = []
        var misses = 0
        while out.count < count && misses < 1000 {
            let g = sample(&rng)
            if seen.insert(g.description).inserted {
                out.append(g)
                misses = 0
            } else {
                misses += 1
            }
        }
        return out
    }
}

// MARK: Operations

/// The operations of a cell edge (the official GTN-NAS sample_model's set, without its 1x3+3x1 and
/// 1x7+7x1 factorised convs). Convolutions (weight-normalised, no bias) are LeakyReLU(0.1) -> conv
/// -> mean-only batch norm; poolings (3x3, stride 1, padding 1) are followed by a mean-only batch
/// norm; identity has no parameters (see `CellNetwork`).
public enum CellOp: String, Sendable, Hashable, Codable, CaseIterable {
    case identity
    case conv3x3
    case conv1x1
    /// Depthwise 3x3 then pointwise 1x1 convolution.
    case sepConv3x3 = "sep3x3"
    /// Depthwise 1x1 (per-channel scale) then pointwise 1x1 convolution.
    case sepConv1x1 = "sep1x1"
    case maxPool3x3 = "max3x3"
    case avgPool3x3 = "avg3x3"

    public var hasParameters: Bool { self != .identity }
}

// MARK: The cell genome

/// A micro cell (ENAS/NAO style, one cell input): nodes 1...n, each the sum of two edges
/// (input, op) whose inputs are the cell input (0) or an earlier node (1..<k for node k). The cell's
/// output combines the nodes no other node consumes (see `CellNetwork` for the scaling).
///
/// String form: nodes separated by `|`, each `op@input+op@input`, e.g.
/// `conv3x3@0+max3x3@0|sep3x3@1+identity@0|avg3x3@2+conv1x1@1`. It round-trips through
/// `init?(_:)` and holds no commas, so it serves as CSV key and cache key.
public struct CellGenome: Hashable, Codable, Sendable, LosslessStringConvertible {
    public struct Edge: Hashable, Codable, Sendable {
        /// 0 is the cell input, k >= 1 node k.
        public var input: Int
        public var op: CellOp
        public init(input: Int, op: CellOp) { (self.input, self.op) = (input, op) }
    }

    public struct Node: Hashable, Codable, Sendable {
        public var a: Edge, b: Edge
        public init(_ a: Edge, _ b: Edge) { (self.a, self.b) = (a, b) }
        public var edges: [Edge] { [a, b] }
    }

    public var nodes: [Node]

    public init(nodes: [Node]) { self.nodes = nodes }

    public var description: String {
        nodes.map { "\($0.a.op.rawValue)@\($0.a.input)+\($0.b.op.rawValue)@\($0.b.input)" }.joined(separator: "|")
    }

    public init?(_ description: String) {
        var nodes: [Node] = []
        for part in description.split(separator: "|", omittingEmptySubsequences: false) {
            let edges = part.split(separator: "+", omittingEmptySubsequences: false).map { e -> Edge? in
                let f = e.split(separator: "@", omittingEmptySubsequences: false)
                guard f.count == 2, let op = CellOp(rawValue: String(f[0]).trimmingSpaces),
                    let i = Int(String(f[1]).trimmingSpaces)
                else { return nil }
                return Edge(input: i, op: op)
            }
            guard edges.count == 2, let a = edges[0], let b = edges[1] else { return nil }
            nodes.append(Node(a, b))
        }
        guard !nodes.isEmpty else { return nil }
        self.nodes = nodes
    }

    /// Whether every edge reads the cell input or an earlier node.
    public var isWellFormed: Bool {
        !nodes.isEmpty && nodes.enumerated().allSatisfy { k, n in n.edges.allSatisfy { (0...k).contains($0.input) } }
    }

    /// The nodes (1-based) that no other node consumes, in order: the cell output combines them.
    public var outputNodes: [Int] {
        let used = Set(nodes.flatMap { $0.edges.map(\.input) })
        return (1...nodes.count).filter { !used.contains($0) }
    }

    /// How many edges use `op`.
    public func count(of op: CellOp) -> Int { nodes.reduce(0) { $0 + $1.edges.filter { $0.op == op }.count } }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

// MARK: The cell search space

/// Cell networks (`CellNetwork`) for images of one shape: the genome is the cell shared by every
/// stage; widths, stages and weight norm are fixed by the space.
public struct CellSearchSpace: SearchSpace, Hashable {
    public typealias Genome = CellGenome

    public var nodes: Int
    public var ops: [CellOp]
    public var image: ImageShape
    public var classes: Int
    /// Channels of the stem and the first stage (doubled at each reduction).
    public var channels: Int
    /// Stages of cells (reductions between them).
    public var stages: Int
    public var cellsPerStage: Int
    public var stemStride: Int
    public var head: CellNetworkHead
    public var weightNorm: Bool

    public init(
        nodes: Int = 4, ops: [CellOp] = CellOp.allCases, image: ImageShape = .mnist, classes: Int = 10,
        channels: Int = 16, stages: Int = 3, cellsPerStage: Int = 1, stemStride: Int = 2,
        head: CellNetworkHead = .flatten, weightNorm: Bool = true
    ) {
        precondition(
            nodes >= 1 && !ops.isEmpty && stages >= 1 && cellsPerStage >= 1 && channels >= 1 && stemStride >= 1,
            "CellSearchSpace: nodes, ops, stages, cells per stage, channels and stem stride must be at least 1")
        (self.nodes, self.ops, self.image, self.classes) = (nodes, ops, image, classes)
        (self.channels, self.stages, self.cellsPerStage, self.weightNorm) = (
            channels, stages, cellsPerStage, weightNorm
        )
        (self.stemStride, self.head) = (stemStride, head)
    }

    /// Everything but the genome that shapes the networks (part of the evaluators' cache keys).
    public var signature: String {
        "cells nodes=\(nodes) ops=\(ops.map(\.rawValue).joined(separator: ",")) "
            + "image=\(image.dims.map(String.init).joined(separator: "x")) classes=\(classes) channels=\(channels) "
            + "stages=\(stages) cells=\(cellsPerStage) stem-stride=\(stemStride) head=\(head.rawValue) "
            + "weight-norm=\(weightNorm)"
    }

    /// Number of distinct genomes.
    public var size: Double {
        (1...nodes).reduce(1.0) { acc, k in acc * Double(k * ops.count) * Double(k * ops.count) }
    }

    public func sample(_ rng: inout RandomSource) -> CellGenome {
        func edge(_ k: Int) -> CellGenome.Edge {
            let input = Int(rng.next() % UInt64(k + 1))
            return .init(input: input, op: ops[Int(rng.next() % UInt64(ops.count))])
        }
        return CellGenome(nodes: (0..<nodes).map { k in .init(edge(k), edge(k)) })
    }

    /// Changes one op or one input of one edge to a different value (an input mutation needs a node
    /// with a choice of inputs; an op mutation needs at least two ops).
    public func mutate(_ genome: CellGenome, _ rng: inout RandomSource) -> CellGenome {
        var g = genome
        // Every (node, edge, what) that can take another value: what 0 = op, 1 = input.
        var sites: [(Int, Int, Int)] = []
        for k in 0..<g.nodes.count {
            for e in 0..<2 {
                if ops.count > 1 { sites.append((k, e, 0)) }
                if k > 0 { sites.append((k, e, 1)) }
            }
        }
        guard !sites.isEmpty else { return g }
        let (k, e, what) = sites[Int(rng.next() % UInt64(sites.count))]
        var edge = e == 0 ? g.nodes[k].a : g.nodes[k].b
        if what == 0 {
            let others = ops.filter { $0 != edge.op }
            edge.op = others[Int(rng.next() % UInt64(others.count))]
        } else {
            let others = (0...k).filter { $0 != edge.input }
            edge.input = others[Int(rng.next() % UInt64(others.count))]
        }
        if e == 0 { g.nodes[k].a = edge } else { g.nodes[k].b = edge }
        return g
    }

    public func isValid(_ genome: CellGenome) -> Bool {
        genome.nodes.count == nodes && genome.isWellFormed
            && genome.nodes.allSatisfy { $0.edges.allSatisfy { ops.contains($0.op) } }
    }

    public func network(for genome: CellGenome) -> any LearnerArchitecture { cellNetwork(for: genome) }

    public func cellNetwork(for genome: CellGenome) -> CellNetwork {
        precondition(
            isValid(genome),
            "CellSearchSpace: genome \(genome) is not in this space (\(nodes) nodes, ops \(ops.map(\.rawValue)))")
        return CellNetwork(
            genome: genome, image: image, classes: classes, channels: channels, stages: stages,
            cellsPerStage: cellsPerStage, stemStride: stemStride, head: head, weightNorm: weightNorm)
    }
}
