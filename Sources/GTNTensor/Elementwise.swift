/// Elementwise arithmetic with numpy broadcasting, and unary maps.
extension Tensor {
    @inline(__always)
    static func zipBroadcast(_ a: Tensor, _ b: Tensor, _ name: String,
                             _ f: (S, S) -> S) -> Tensor {
        if a.shape == b.shape {
            return Tensor(shape: a.shape) { out in
                a.scalars.withUnsafeBufferPointer { pa in
                    b.scalars.withUnsafeBufferPointer { pb in
                        let out = out
                        parallelChunks(out.count, grain: elementwiseGrain) { r in
                            for i in r { out[i] = f(pa[i], pb[i]) }
                        }
                    }
                }
            }
        }
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let loop = StridedLoop(shape: shape, strides: [contiguousStrides(shape),
                                                       broadcastStrides(a.shape, to: shape),
                                                       broadcastStrides(b.shape, to: shape)])
        let inner = loop.inner
        let (so, sa, sb) = (loop.strides[0].last!, loop.strides[1].last!, loop.strides[2].last!)
        return Tensor(shape: shape) { out in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    let out = out
                    parallelChunks(loop.outerCount, grain: Swift.max(1, elementwiseGrain / Swift.max(inner, 1))) { rows in
                        loop.forEachRow(rows) { o in
                            let (oo, oa, ob) = (o[0], o[1], o[2])
                            // Unit strides first: the loops the compiler can vectorise.
                            if so == 1 && sa == 1 && sb == 1 {
                                for i in 0..<inner { out[oo + i] = f(pa[oa + i], pb[ob + i]) }
                            } else if so == 1 && sa == 0 && sb == 1 {
                                let x = pa[oa]
                                for i in 0..<inner { out[oo + i] = f(x, pb[ob + i]) }
                            } else if so == 1 && sa == 1 && sb == 0 {
                                let y = pb[ob]
                                for i in 0..<inner { out[oo + i] = f(pa[oa + i], y) }
                            } else if sa == 0 {
                                let x = pa[oa]
                                for i in 0..<inner { out[oo + i * so] = f(x, pb[ob + i * sb]) }
                            } else if sb == 0 {
                                let y = pb[ob]
                                for i in 0..<inner { out[oo + i * so] = f(pa[oa + i * sa], y) }
                            } else {
                                for i in 0..<inner { out[oo + i * so] = f(pa[oa + i * sa], pb[ob + i * sb]) }
                            }
                        }
                    }
                }
            }
        }
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func + (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "add") { $0 + $1 } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func - (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "subtract") { $0 - $1 } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func * (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "multiply") { $0 * $1 } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func / (a: Tensor, b: Tensor) -> Tensor { zipBroadcast(a, b, "divide") { $0 / $1 } }

    /// Applies `f` to every scalar (threaded for large tensors).
    @inline(__always)
    public func map(_ f: (S) -> S) -> Tensor {
        Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { p in
                let out = out
                parallelChunks(out.count, grain: elementwiseGrain) { r in
                    for i in r { out[i] = f(p[i]) }
                }
            }
        }
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func * (a: Tensor, s: S) -> Tensor { a.map { $0 * s } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func + (a: Tensor, s: S) -> Tensor { a.map { $0 + s } }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public func exp() -> Tensor { map { S.exp($0) } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func log() -> Tensor { map { S.log($0) } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func tanh() -> Tensor { map { S.tanh($0) } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func sqrt() -> Tensor { map { S.sqrt($0) } }
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func pow(_ p: S) -> Tensor { map { S.pow($0, p) } }
    /// x for x > 0, slope * x otherwise.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func leakyRelu(slope: S) -> Tensor { map { $0 > 0 ? $0 : $0 * slope } }
    /// The derivative of `leakyRelu` as a tensor: 1 where x > 0, slope elsewhere.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func leakyReluSlope(slope: S) -> Tensor { map { $0 > 0 ? 1 : slope } }
}
