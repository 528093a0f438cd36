/// Reductions.
extension Tensor {
    /// Sums over the dimensions along which `target` broadcasts to this tensor's shape: the
    /// adjoint of broadcasting. `target` may have lower rank (aligned at the last dimension).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func sum(toShape target: [Int]) -> Tensor {
        if target == shape { return self }
        return reduced(toShape: target, "sum(toShape:)", Identity.self)
    }

    /// The sums of squares over the dimensions along which `target` broadcasts to this shape, in
    /// one pass (weight normalisation's norms, batch norm's variance): no squared tensor is made.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func sumOfSquares(toShape target: [Int]) -> Tensor {
        reduced(toShape: target, "sumOfSquares(toShape:)", Square.self)
    }

    /// Sums of f(x) (`K` is the map) over the dimensions along which `target` broadcasts.
    ///
    /// Large reductions are split over the workers by *output*: each worker owns a range of the
    /// output elements and adds their terms in the same order as one core would, so the result has
    /// the same bits whatever the number of cores (a split over the input would round differently,
    /// and the meta-gradient amplifies such rounding: see `reductionGrain`). When the innermost
    /// dimension is kept, a worker takes a range of it in every row; when it is summed, a worker
    /// takes the rows whose output falls in its range.
    ///
    /// `workers` caps the number of threads (tests compare one against several).
    @inline(__always)
    func reduced<K: ReductionMap>(
        toShape target: [Int], _ name: String, _: K.Type, workers most: Int = workerCount
    ) -> Tensor {
        precondition(
            broadcastShape(target, shape) == shape,
            "\(name): \(target) does not broadcast to \(shape)")
        let loop = StridedLoop(
            shape: shape,
            strides: [
                contiguousStrides(shape),
                broadcastStrides(target, to: shape),
            ])
        let outCount = target.reduce(1, *)
        let (inner, rows) = (loop.inner, loop.outerCount)
        let (si, so) = (loop.strides[0].last!, loop.strides[1].last!)
        // Rows of fewer than 16 summed terms would cost more to skip than to add.
        let splittable = so != 0 ? inner : (inner >= 16 ? outCount : 1)
        let workers = Swift.max(1, Swift.min(most, count / reductionGrain, splittable))
        var sums = [S](repeating: 0, count: outCount)
        scalars.withUnsafeBufferPointer { pin in
            sums.withUnsafeMutableBufferPointer { acc in
                let acc = acc
                let run = { (w: Int) in
                    if so != 0 {
                        let part = (inner * w / workers)..<(inner * (w + 1) / workers)
                        loop.forEachRow(0..<rows) { o in
                            let (oi, oo) = (o[0], o[1])
                            if si == 1 && so == 1 {
                                // The common case (a bias gradient: [128, 6272] -> [1, 6272]) as a
                                // pointer loop the compiler vectorises; the strided loop below
                                // ran one scalar add at a time with overflow checks.
                                let (src, dst) = (pin.baseAddress! + oi, acc.baseAddress! + oo)
                                for i in part { dst[i] += K.apply(src[i]) }
                            } else {
                                for i in part { acc[oo + i * so] += K.apply(pin[oi + i * si]) }
                            }
                        }
                    } else {
                        let part = (outCount * w / workers)..<(outCount * (w + 1) / workers)
                        loop.forEachRow(0..<rows) { o in
                            let (oi, oo) = (o[0], o[1])
                            guard part.contains(oo) else { return }
                            if si == 1 {
                                acc[oo] += contiguousSum(pin.baseAddress! + oi, inner, K.self)
                            } else {
                                var s: S = 0
                                for i in 0..<inner { s += K.apply(pin[oi + i * si]) }
                                acc[oo] += s
                            }
                        }
                    }
                }
                if workers == 1 { run(0) } else { DispatchQueueHelper.concurrent(workers, run) }
            }
        }
        return Tensor(shape: target, scalars: sums)
    }

    /// Sum of all scalars, as a rank-0 tensor.
    public func sum() -> Tensor { sum(toShape: []) }

    /// Largest value along `axis`, keeping that axis with size 1 (not differentiable: callers use
    /// it only for numerical stability, as in log-softmax).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func max(alongAxis axis: Int) -> Tensor {
        precondition(axis >= 0 && axis < rank, "max(alongAxis:): axis \(axis) out of range for shape \(shape)")
        let outer = shape[..<axis].reduce(1, *)
        let n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = 1
        return Tensor(shape: outShape) { out in
            scalars.withUnsafeBufferPointer { p in
                for o in 0..<outer {
                    for i in 0..<inner {
                        var m = -S.infinity
                        for k in 0..<n { m = Swift.max(m, p[(o * n + k) * inner + i]) }
                        out[o * inner + i] = m
                    }
                }
            }
        }
    }

    /// Index of the largest value along the last axis of a rank-2 tensor (predicted classes).
    public func argmaxRows() -> [Int] {
        precondition(rank == 2, "argmaxRows: needs a rank-2 tensor, got shape \(shape)")
        let (rows, cols) = (shape[0], shape[1])
        return (0..<rows).map { r in
            var best = 0
            for c in 1..<cols where scalars[r * cols + c] > scalars[r * cols + best] { best = c }
            return best
        }
    }
}

extension Tensor {
    /// Repeats this tensor along the dimensions where it broadcasts to `target` (the adjoint of
    /// `sum(toShape:)`).
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func broadcast(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(broadcastShape(shape, target) == target, "broadcast: \(shape) does not broadcast to \(target)")
        return stridedCopy(shape: target, sourceStrides: broadcastStrides(shape, to: target))
    }
}

/// Sum of n contiguous scalars with eight independent accumulators. One running sum is bound by
/// the add latency (4 cycles an add: the mean-only batch norm's [128,64,14,14] -> [1,64,1,1] sums
/// took 1.5 ms); eight chains let the adds overlap and vectorise.
@inline(__always)
func contiguousSum<S: TensorScalar, K: ReductionMap>(_ p: UnsafePointer<S>, _ n: Int, _: K.Type = Identity.self) -> S {
    var (a0, a1, a2, a3, a4, a5, a6, a7): (S, S, S, S, S, S, S, S) = (0, 0, 0, 0, 0, 0, 0, 0)
    var i = 0
    while i + 8 <= n {
        a0 += K.apply(p[i])
        a1 += K.apply(p[i + 1])
        a2 += K.apply(p[i + 2])
        a3 += K.apply(p[i + 3])
        a4 += K.apply(p[i + 4])
        a5 += K.apply(p[i + 5])
        a6 += K.apply(p[i + 6])
        a7 += K.apply(p[i + 7])
        i += 8
    }
    var tail: S = 0
    while i < n {
        tail += K.apply(p[i])
        i += 1
    }
    return ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}

/// What a reduction sums: x itself, or x².
protocol ReductionMap {
    static func apply<S: TensorScalar>(_ x: S) -> S
}
enum Identity: ReductionMap {
    @inline(__always) static func apply<S: TensorScalar>(_ x: S) -> S { x }
}
enum Square: ReductionMap {
    @inline(__always) static func apply<S: TensorScalar>(_ x: S) -> S { x * x }
}
