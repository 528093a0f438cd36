/// Elementwise arithmetic with numpy broadcasting, and unary maps.
///
/// Each scalar function is a type (`BinaryKernel`, `UnaryKernel`), not a closure: the loops are
/// generic over it, so every kernel is specialised with the function inlined into a plain pointer
/// loop that the compiler vectorises, also inside the block that `parallelChunks` hands to the
/// second core. (With a closure parameter the loop kept an indirect call per element once it
/// crossed the thread hand-off: two workers were 7x slower than one; see docs/NOTES.md.)

/// f(a, b) for one pair of scalars.
@usableFromInline protocol BinaryKernel {
    static func apply<S: TensorScalar>(_ a: S, _ b: S) -> S
}

@usableFromInline enum AddKernel: BinaryKernel {
    @inline(__always) @usableFromInline static func apply<S: TensorScalar>(_ a: S, _ b: S) -> S { a + b }
}
@usableFromInline enum SubtractKernel: BinaryKernel {
    @inline(__always) @usableFromInline static func apply<S: TensorScalar>(_ a: S, _ b: S) -> S { a - b }
}
@usableFromInline enum MultiplyKernel: BinaryKernel {
    @inline(__always) @usableFromInline static func apply<S: TensorScalar>(_ a: S, _ b: S) -> S { a * b }
}
@usableFromInline enum DivideKernel: BinaryKernel {
    @inline(__always) @usableFromInline static func apply<S: TensorScalar>(_ a: S, _ b: S) -> S { a / b }
}

/// f(x) for one scalar; a value, so it can carry a constant (a scale, a slope).
@usableFromInline protocol UnaryKernel {
    associatedtype Scalar: TensorScalar
    func callAsFunction(_ x: Scalar) -> Scalar
}

struct NegateKernel<Scalar: TensorScalar>: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { -x }
}
struct ScaleKernel<Scalar: TensorScalar>: UnaryKernel {
    let s: Scalar
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { x * s }
}
struct ShiftKernel<Scalar: TensorScalar>: UnaryKernel {
    let s: Scalar
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { x + s }
}
struct ExpKernel<Scalar: TensorScalar>: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { Scalar.exp(x) }
}
struct LogKernel<Scalar: TensorScalar>: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { Scalar.log(x) }
}
struct TanhKernel<Scalar: TensorScalar>: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { Scalar.tanh(x) }
}
struct SqrtKernel<Scalar: TensorScalar>: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { Scalar.sqrt(x) }
}
struct PowKernel<Scalar: TensorScalar>: UnaryKernel {
    let p: Scalar
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { Scalar.pow(x, p) }
}
struct LeakyReluKernel<Scalar: TensorScalar>: UnaryKernel {
    let slope: Scalar
    @inline(__always) func callAsFunction(_ x: Scalar) -> Scalar { x > 0 ? x : x * slope }
}

extension Tensor {
    static func zipBroadcast<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ name: String, _: K.Type) -> Tensor {
        if a.shape == b.shape {
            return Tensor(shape: a.shape) { out in
                a.scalars.withUnsafeBufferPointer { pa in
                    b.scalars.withUnsafeBufferPointer { pb in
                        let (o, x, y) = (out.baseAddress!, pa.baseAddress!, pb.baseAddress!)
                        parallelChunks(out.count, grain: elementwiseGrain) { r in
                            for i in r { o[i] = K.apply(x[i], y[i]) }
                        }
                    }
                }
            }
        }
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let loop = StridedLoop(
            shape: shape,
            strides: [
                contiguousStrides(shape),
                broadcastStrides(a.shape, to: shape),
                broadcastStrides(b.shape, to: shape),
            ])
        let inner = loop.inner
        let (so, sa, sb) = (loop.strides[0].last!, loop.strides[1].last!, loop.strides[2].last!)
        return Tensor(shape: shape) { out in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    let (po, px, py) = (out.baseAddress!, pa.baseAddress!, pb.baseAddress!)
                    // Split the outer rows, or, when there are too few of them (a tensor times a
                    // scalar merges into one long row), the inner run.
                    let rowsSplit = loop.outerCount >= workerCount
                    parallelChunks(
                        rowsSplit ? loop.outerCount : inner,
                        grain: rowsSplit ? Swift.max(1, elementwiseGrain / Swift.max(inner, 1)) : elementwiseGrain
                    ) { part in
                        let rows = rowsSplit ? part : 0..<loop.outerCount
                        let span = rowsSplit ? 0..<inner : part
                        loop.forEachRow(rows) { off in
                            let (o, x, y) = (po + off[0], px + off[1], py + off[2])
                            // Unit strides first: the loops the compiler can vectorise.
                            if so == 1 && sa == 1 && sb == 1 {
                                for i in span { o[i] = K.apply(x[i], y[i]) }
                            } else if so == 1 && sa == 0 && sb == 1 {
                                let c = x[0]
                                for i in span { o[i] = K.apply(c, y[i]) }
                            } else if so == 1 && sa == 1 && sb == 0 {
                                let c = y[0]
                                for i in span { o[i] = K.apply(x[i], c) }
                            } else {
                                for i in span { o[i * so] = K.apply(x[i * sa], y[i * sb]) }
                            }
                        }
                    }
                }
            }
        }
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func + (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "add", AddKernel.self) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func - (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "subtract", SubtractKernel.self) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func * (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "multiply", MultiplyKernel.self) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func / (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "divide", DivideKernel.self) }

    /// Applies `k` to every scalar, split over the workers for large tensors.
    @inline(__always)
    func apply<K: UnaryKernel>(_ k: K) -> Tensor where K.Scalar == S {
        Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { p in
                let (o, x) = (out.baseAddress!, p.baseAddress!)
                parallelChunks(out.count, grain: elementwiseGrain) { r in
                    for i in r { o[i] = k(x[i]) }
                }
            }
        }
    }

    /// Applies `f` to every scalar (one thread: a closure is not worth a hand-off).
    @inlinable
    public func map(_ f: (S) -> S) -> Tensor {
        Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { p in
                for i in 0..<out.count { out[i] = f(p[i]) }
            }
        }
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public static prefix func - (a: Tensor) -> Tensor { a.apply(NegateKernel()) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func * (a: Tensor, s: S) -> Tensor { a.apply(ScaleKernel(s: s)) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func + (a: Tensor, s: S) -> Tensor { a.apply(ShiftKernel(s: s)) }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public func exp() -> Tensor { apply(ExpKernel()) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func log() -> Tensor { apply(LogKernel()) }
    /// Float32 through `VectorMath.tanh` (eight lanes at a time; glibc's scalar tanhf was the
    /// slowest elementwise op per element), Float64 through Foundation.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func tanh() -> Tensor {
        guard S.self == Float.self else { return apply(TanhKernel()) }
        return Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { p in
                let x = UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: Float.self)
                let o = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: Float.self)
                parallelChunks(out.count, grain: elementwiseGrain) { r in
                    VectorMath.tanh(x + r.lowerBound, into: o + r.lowerBound, count: r.count)
                }
            }
        }
    }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func sqrt() -> Tensor { apply(SqrtKernel()) }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func pow(_ p: S) -> Tensor { apply(PowKernel(p: p)) }
    /// x for x > 0, slope * x otherwise.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func leakyRelu(slope: S) -> Tensor { apply(LeakyReluKernel(slope: slope)) }
    /// leakyRelu's pullback in one pass: `self` (the incoming gradient) where x > 0, `self` times
    /// slope elsewhere.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func leakyReluGradient(at x: Tensor, slope: S) -> Tensor {
        precondition(shape == x.shape, "leakyReluGradient: gradient \(shape) and input \(x.shape) differ")
        return Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { pg in
                x.scalars.withUnsafeBufferPointer { px in
                    let (o, g, v) = (out.baseAddress!, pg.baseAddress!, px.baseAddress!)
                    parallelChunks(out.count, grain: elementwiseGrain) { r in
                        for i in r { o[i] = v[i] > 0 ? g[i] : g[i] * slope }
                    }
                }
            }
        }
    }

    /// x a + y in one pass, for a number a: the inner loop's momentum step (v m + g) and update
    /// (w - lr v) as one kernel each, instead of a multiply and an add with a full-size temporary.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func multiplyAdd(_ x: Tensor, _ a: S, _ y: Tensor) -> Tensor {
        precondition(x.shape == y.shape, "multiplyAdd: \(x.shape) and \(y.shape) differ")
        return Tensor(shape: x.shape) { out in
            x.scalars.withUnsafeBufferPointer { px in
                y.scalars.withUnsafeBufferPointer { py in
                    let (o, u, v) = (out.baseAddress!, px.baseAddress!, py.baseAddress!)
                    parallelChunks(out.count, grain: elementwiseGrain) { r in
                        for i in r { o[i] = u[i] * a + v[i] }
                    }
                }
            }
        }
    }

    /// Σ a_i b_i over two tensors of one shape, without the product tensor. Partial sums per
    /// block of 4096 keep the rounding of Float sums over millions of terms near a pairwise sum's.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func dot(_ a: Tensor, _ b: Tensor) -> S {
        precondition(a.shape == b.shape, "dot: \(a.shape) and \(b.shape) differ")
        return a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                var total: S = 0
                var i = 0
                while i < pa.count {
                    let n = Swift.min(4096, pa.count - i)
                    total += contiguousDot(pa.baseAddress! + i, pb.baseAddress! + i, n)
                    i += n
                }
                return total
            }
        }
    }
}
