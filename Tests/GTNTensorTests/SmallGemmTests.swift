import Testing

@testable import GTNTensor

// The small products of Winograd convolutions (SmallGemm): libxsmm's kernels for Float, OpenBLAS
// for Double and as the fallback, against OpenBLAS's gemm on the same operands.

/// n scalars in [-1, 1) from a seeded linear congruential generator (also ReductionSplitTests').
func randomScalars<S: TensorScalar>(_ n: Int, seed: UInt64) -> [S] {
    var state = seed
    return (0..<n).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return S(Int32(truncatingIfNeeded: state >> 33)) * S(0x1p-31)
    }
}

/// Row-major C (m x n) = A B or C += A B, with leading dimensions larger than the rows (as the
/// Winograd scratch has none, but callers may), by SmallGemm and by S.gemm.
private func compare<S: TensorScalar>(_: S.Type, m: Int, n: Int, k: Int, accumulate: Bool) -> (got: [S], want: [S]) {
    let (lda, ldb, ldc) = (k + 3, n + 5, n + 2)
    let a: [S] = randomScalars(m * lda, seed: 1)
    let b: [S] = randomScalars(k * ldb, seed: 2)
    var got: [S] = randomScalars(m * ldc, seed: 3)
    var want = got
    let product = SmallGemm<S>(m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, accumulate: accumulate)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            got.withUnsafeMutableBufferPointer { product(pa.baseAddress!, pb.baseAddress!, $0.baseAddress!) }
            want.withUnsafeMutableBufferPointer {
                S.gemm(
                    transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: lda,
                    b: pb.baseAddress!, ldb: ldb, beta: accumulate ? 1 : 0, c: $0.baseAddress!, ldc: ldc)
            }
        }
    }
    return (got, want)
}

@Test(arguments: [(128, 128, 64), (64, 128, 128), (16, 7, 16), (33, 40, 5)], [false, true])
func smallGemmMatchesOpenBLAS(_ shape: (Int, Int, Int), _ accumulate: Bool) {
    let (m, n, k) = shape
    #if arch(x86_64)
        // libxsmm generates x86-64 code: on this architecture a Float product must not silently
        // fall back to OpenBLAS (unless GTN_XSMM=0 asks for that).
        if smallGemmUsesXSMM {
            #expect(SmallGemm<Float>(m: m, n: n, k: k, lda: k, ldb: n, ldc: n, accumulate: accumulate).kernel != nil)
        }
    #endif
    #expect(SmallGemm<Double>(m: m, n: n, k: k, lda: k, ldb: n, ldc: n, accumulate: accumulate).kernel == nil)
    // Large products stay with OpenBLAS, whose kernels block for the caches.
    #expect(SmallGemm<Float>(m: 256, n: 256, k: 256, lda: 256, ldb: 256, ldc: 256, accumulate: false).kernel == nil)
    let f = compare(Float.self, m: m, n: n, k: k, accumulate: accumulate)
    // The columns past n (ldc > n) must be left alone, and every product agree to Float rounding:
    // sums of k products of numbers below 1 in size, each sum's rounding error under k ulps of 4
    // (a wrong kernel is off by O(1)).
    let worst = zip(f.got, f.want).map { abs($0 - $1) }.max() ?? 0
    #expect(
        worst <= Float(k) * 4 * Float.ulpOfOne, "Float \(shape) accumulate \(accumulate): largest difference \(worst)")
    let d = compare(Double.self, m: m, n: n, k: k, accumulate: accumulate)
    #expect(d.got == d.want, "Double \(shape) goes to OpenBLAS")
}
