/// An n-dimensional array of `Float` or `Double` in row-major, contiguous storage.
///
/// `Tensor` is a value: copies share storage until one of them is written (copy-on-write through
/// `Array`). It knows nothing of gradients; `GTNAutodiff.Variable` wraps it for that.
public struct Tensor<S: TensorScalar>: Sendable {
    public let shape: [Int]
    public var scalars: [S]

    public init(shape: [Int], scalars: [S]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    // Specialised: unspecialised, the array is filled through a value witness per element
    // (measured: a tenth of a second for the meta-optimiser's 13M zeros).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public init(repeating value: S, shape: [Int]) {
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// A rank-0 tensor holding one number.
    public init(_ value: S) { self.init(shape: [], scalars: [value]) }

    /// Builds a tensor whose scalars are uninitialised memory that `fill` must write completely.
    @inlinable
    public init(shape: [Int], unsafeUninitialized fill: (UnsafeMutableBufferPointer<S>) -> Void) {
        _ = allocatorConfigured
        let n = shape.reduce(1, *)
        self.shape = shape
        self.scalars = [S](unsafeUninitializedCapacity: n) { buf, count in
            fill(buf)
            count = n
        }
    }

    public var rank: Int { shape.count }
    public var count: Int { scalars.count }

    /// The single value of a one-element tensor.
    public var scalar: S {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements, not 1")
        return scalars[0]
    }

    /// Same scalars, new shape. One dimension may be -1 and is then inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: Tensor.resolve(newShape, count: count, from: shape), scalars: scalars)
    }

    static func resolve(_ newShape: [Int], count: Int, from old: [Int]) -> [Int] {
        let inferred = newShape.filter { $0 == -1 }.count
        precondition(inferred <= 1, "reshape: more than one -1 in \(newShape)")
        if inferred == 0 {
            precondition(
                newShape.reduce(1, *) == count,
                "reshape: cannot view shape \(old) (\(count) elements) as \(newShape)")
            return newShape
        }
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        precondition(
            known > 0 && count % known == 0,
            "reshape: cannot view shape \(old) (\(count) elements) as \(newShape)")
        return newShape.map { $0 == -1 ? count / known : $0 }
    }

    /// Converts every scalar to another precision.
    public func converted<T: TensorScalar>(to: T.Type = T.self) -> Tensor<T> {
        Tensor<T>(shape: shape, scalars: scalars.map { T($0) })
    }
}

/// Row-major strides of a shape.
@inlinable
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

extension Tensor: Equatable {
    public static func == (a: Tensor, b: Tensor) -> Bool { a.shape == b.shape && a.scalars == b.scalars }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor\(shape)[\(shown)\(count > 8 ? ", ..." : "")]"
    }
}

extension Tensor {
    /// Largest absolute difference to another tensor of the same shape (for tests and checks).
    public func maxAbsDifference(_ other: Tensor) -> S {
        precondition(shape == other.shape, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
        var m: S = 0
        for i in 0..<count { m = Swift.max(m, Swift.abs(scalars[i] - other.scalars[i])) }
        return m
    }
}
