import CXSMM
import Foundation

/// GTN_XSMM=0 sends the small products to OpenBLAS instead (for comparisons).
let smallGemmUsesXSMM = ProcessInfo.processInfo.environment["GTN_XSMM"] != "0"

/// Row-major C = A B (or C += A B when `accumulate`) for one shape that is multiplied many times
/// over: the 16 or 36 products of every chunk of a Winograd convolution (M_ξ = U_ξ V_ξ, 128 x 64
/// by 64 x 128 in the learner's wide layer; the weight adjoint's dU_ξ += dM_ξ V_ξᵀ after V_ξ is
/// transposed).
///
/// OpenBLAS packs both operands into its own layout and zeroes C for beta = 0 on every call,
/// which at these sizes costs a third of its time. For Float, libxsmm (Debian's libxsmm-dev)
/// generates a kernel for the shape the first time it is asked, for the CPU it runs on (AVX-512
/// here), which reads the operands where they are: on the learner's F(4x4) products 154 GFLOP/s
/// on one core against OpenBLAS's 106 (2026-12-07). Double, products above `largest` multiply-adds
/// (libxsmm's kernels keep no cache blocking of their own; the shapes measured were up to 1M), and
/// any shape libxsmm declines go to `S.gemm` (OpenBLAS).
struct SmallGemm<S: TensorScalar> {
    static var largest: Int { 4 << 20 }

    let m, n, k, lda, ldb, ldc: Int
    let accumulate: Bool
    /// libxsmm's kernel (`gtn_xsmm_call` runs it), or nil for OpenBLAS.
    let kernel: UnsafeRawPointer?

    init(m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, accumulate: Bool) {
        (self.m, self.n, self.k, self.lda, self.ldb, self.ldc, self.accumulate) = (m, n, k, lda, ldb, ldc, accumulate)
        kernel =
            S.self == Float.self && smallGemmUsesXSMM && m * n * k <= Self.largest
            ? gtn_xsmm_dispatch(Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb), Int32(ldc), accumulate ? 1 : 0)
            : nil
    }

    @inline(__always)
    func callAsFunction(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ c: UnsafeMutablePointer<S>) {
        if let kernel {
            FlopTally.gemm(m, n, k)
            gtn_xsmm_call(
                kernel, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self))
        } else {
            S.gemm(
                transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
    }
}
