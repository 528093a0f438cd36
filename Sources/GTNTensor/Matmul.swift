/// Matrix products through OpenBLAS, and axis permutation.
extension Tensor {
    /// op(a) x op(b) for rank-2 tensors, where op transposes when asked. Large products are split
    /// over the workers along the longer output side.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func matmul(
        _ a: Tensor, _ b: Tensor,
        transposeA ta: Bool = false, transposeB tb: Bool = false
    ) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul: needs rank-2 tensors, got \(a.shape) and \(b.shape)")
        let (m, k) = ta ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = tb ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        precondition(
            k == k2, "matmul: inner dimensions differ: \(a.shape)\(ta ? "ᵀ" : "") x \(b.shape)\(tb ? "ᵀ" : "")")
        let (lda, ldb) = (a.shape[1], b.shape[1])
        FlopTally.direct(2 * m * n * k)
        return Tensor(shape: [m, n]) { c in
            if k == 0 {
                for i in 0..<c.count { c[i] = 0 }
                return
            }
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    let (pa, pb, pc) = (pa.baseAddress!, pb.baseAddress!, c.baseAddress!)
                    let work = m * n * k
                    let splitRows = m >= n
                    let parts = work < (1 << 18) ? 1 : Swift.min(workerCount, splitRows ? m : n)
                    parallelChunks(parts, grain: 1) { r in
                        for part in r {
                            if splitRows {
                                let lo = m * part / parts
                                let hi = m * (part + 1) / parts
                                S.gemm(
                                    transA: ta, transB: tb, m: hi - lo, n: n, k: k, alpha: 1,
                                    a: pa + (ta ? lo : lo * lda), lda: lda, b: pb, ldb: ldb,
                                    beta: 0, c: pc + lo * n, ldc: n)
                            } else {
                                let lo = n * part / parts
                                let hi = n * (part + 1) / parts
                                S.gemm(
                                    transA: ta, transB: tb, m: m, n: hi - lo, k: k, alpha: 1,
                                    a: pa, lda: lda, b: pb + (tb ? lo * ldb : lo), ldb: ldb,
                                    beta: 0, c: pc + lo, ldc: n)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reorders the axes: result axis i is this tensor's axis `axes[i]`.
    @_specialize(where S == Float) @_specialize(where S == Double)
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permuted: \(axes) is not a permutation of the axes of \(shape)")
        let own = contiguousStrides(shape)
        return stridedCopy(shape: axes.map { shape[$0] }, sourceStrides: axes.map { own[$0] })
    }
}
