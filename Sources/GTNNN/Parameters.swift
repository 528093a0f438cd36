import GTNAutodiff
import GTNTensor

/// How a parameter is initialised.
public enum Initializer: Sendable, Hashable {
    /// N(0, 2 / fanIn), PyTorch's kaiming_normal_ for (leaky) ReLU nets.
    case kaimingNormal(fanIn: Int)
    case zeros
    case ones
    case constant(Double)
    case normal(std: Double)

    public func make<S: TensorScalar>(_ shape: [Int], rng: inout RandomSource) -> Tensor<S> {
        switch self {
        case .kaimingNormal(let fanIn):
            return .randomNormal(shape, std: S((2.0 / Double(max(fanIn, 1))).squareRoot()), using: &rng)
        case .zeros: return .zeros(shape)
        case .ones: return .ones(shape)
        case .constant(let c): return Tensor(repeating: S(c), shape: shape)
        case .normal(let std): return .randomNormal(shape, std: S(std), using: &rng)
        }
    }
}

/// The description of one named parameter of a model.
public struct ParameterSpec: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    public var initializer: Initializer
    public init(_ name: String, _ shape: [Int], _ initializer: Initializer) {
        (self.name, self.shape, self.initializer) = (name, shape, initializer)
    }
}

/// A model's parameters as an ordered list of variables (the functorch/JAX view: a model is a pure
/// function of its parameters, and the inner loop replaces them at every step).
public struct ParameterList<S: TensorScalar> {
    public var specs: [ParameterSpec]
    public var values: [Variable<S>]

    public init(specs: [ParameterSpec], values: [Variable<S>]) {
        precondition(specs.count == values.count, "ParameterList: \(specs.count) specs for \(values.count) values")
        (self.specs, self.values) = (specs, values)
    }

    /// Fresh parameters drawn from their initialisers, as leaves that require gradients.
    public init(specs: [ParameterSpec], rng: inout RandomSource) {
        self.specs = specs
        self.values = specs.map { Variable($0.initializer.make($0.shape, rng: &rng), requiresGrad: true) }
    }

    public subscript(name: String) -> Variable<S> {
        guard let i = specs.firstIndex(where: { $0.name == name }) else {
            preconditionFailure("no parameter named \(name); have \(specs.map(\.name))")
        }
        return values[i]
    }

    public var count: Int { values.reduce(0) { $0 + $1.value.count } }
}

/// Reads parameters by name in the order a forward function declares them.
public struct ParameterReader<S: TensorScalar> {
    let list: ParameterList<S>
    var next = 0
    public init(_ list: ParameterList<S>) { self.list = list }
    public mutating func take(_ name: String) -> Variable<S> {
        precondition(
            next < list.specs.count && list.specs[next].name == name,
            "ParameterReader: expected \(name) at position \(next), "
                + "have \(next < list.specs.count ? list.specs[next].name : "end")"
        )
        defer { next += 1 }
        return list.values[next]
    }
}
