import GTNTensor
import Synchronization

/// A node of the computation graph: a tensor value plus, when it depends on something that needs
/// gradients, the parents it was computed from and its pullback.
///
/// A pullback maps the gradient flowing into this node to gradients for its parents, and is
/// written with `Variable` operations itself. So when a backward pass runs while recording
/// (`createGraph: true`), the gradients it returns are graph nodes too and can be differentiated
/// again: gradients of gradients come for free, as in PyTorch's `create_graph` or JAX's
/// `grad(grad(f))`.
public final class Variable<S: TensorScalar> {
    public let value: Tensor<S>
    /// True for parameters and for everything computed from them while recording.
    public let requiresGrad: Bool
    /// Creation order. A node is always created after its parents, so sorting by id is a
    /// topological order of any graph.
    let id: Int
    private(set) var parents: [Variable]
    private(set) var pullback: Pullback?
    /// Set once a backward pass that did not retain the graph has used this node's pullback.
    private(set) var isReleased = false
    /// The primitive that made this node (for error messages and graph dumps).
    public let op: String

    /// (gradient into this node, this node, which parents need a gradient) -> one per parent.
    typealias Pullback = (_ grad: Variable, _ output: Variable, _ needs: [Bool]) -> [Variable?]

    /// A leaf: a constant, or a parameter when `requiresGrad` is true.
    public init(_ value: Tensor<S>, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.id = Tape.nextID()
        self.parents = []
        self.pullback = nil
        self.op = requiresGrad ? "parameter" : "constant"
    }

    private init(value: Tensor<S>, op: String, parents: [Variable], pullback: @escaping Pullback) {
        self.value = value
        self.requiresGrad = true
        self.id = Tape.nextID()
        self.parents = parents
        self.pullback = pullback
        self.op = op
    }

    /// Records an operation: a graph node if recording and some parent needs gradients, a constant
    /// otherwise (so evaluation and first-order backward passes build no graph).
    ///
    /// `replayCost` is the op's arithmetic per output element. Inside a checkpointed segment, the
    /// results of ops that cost at least the segment's `ReplayPolicy` minimum are kept from its
    /// first run and handed back when it is replayed, instead of being computed again (see
    /// `checkpointed`).
    static func record(
        _ compute: @autoclosure () -> Tensor<S>, _ op: String, _ parents: [Variable],
        replayCost: Int = 0, _ pullback: @escaping Pullback
    ) -> Variable {
        let value: Tensor<S>
        if replayCost > 0, let memo = Tape.replayMemo as? ReplayMemo<S>, replayCost >= memo.minimumCost {
            value = memo.value("\(op) \(parents.map(\.shape))", cost: replayCost) {
                OpProfiler.isEnabled ? OpProfiler.time(op, compute) : compute()
            }
        } else {
            value = OpProfiler.isEnabled ? OpProfiler.time(op, compute) : compute()
        }
        if Tape.isRecording && parents.contains(where: \.requiresGrad) {
            return Variable(value: value, op: op, parents: parents, pullback: pullback)
        }
        return Variable(value)
    }

    /// Drops the pullback (and the tensors it saved) and the links to the parents, so memory is
    /// returned as a backward pass proceeds (PyTorch's retain_graph=False).
    func releaseGraph() {
        parents = []
        pullback = nil
        isReleased = true
    }

    public var shape: [Int] { value.shape }
    /// The same value, cut from the graph.
    public var detached: Variable { Variable(value) }
    /// The single number of a one-element variable.
    public var scalar: S { value.scalar }
}

extension Variable: CustomStringConvertible {
    public var description: String { "Variable(\(op), \(value))" }
}

/// Recording state. It is task-local, so independent graphs can be built on several threads at
/// once (parallel tests, concurrent architecture evaluations) without seeing each other's mode;
/// node ids come from one atomic counter, which keeps them ordered within every graph.
public enum Tape {
    static let counter = Atomic<Int>(0)
    @TaskLocal public static var isRecording = true
    /// The results kept by the checkpointed segment now running, if any (a `ReplayMemo<S>`).
    @TaskLocal static var replayMemo: AnyObject? = nil

    static func nextID() -> Int {
        counter.add(1, ordering: .relaxed).newValue
    }

    /// Runs `body` with recording set to `on`.
    @discardableResult
    public static func recording<R>(_ on: Bool, _ body: () throws -> R) rethrows -> R {
        try $isRecording.withValue(on, operation: body)
    }
}

/// Runs `body` without building a graph (evaluation, optimiser updates of leaf values).
@discardableResult
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try Tape.recording(false, body)
}
