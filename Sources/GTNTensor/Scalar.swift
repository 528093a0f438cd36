import CBLAS
import Foundation
import Synchronization

/// Floating-point work of the products, counted when GTN_PROFILE=1 (for `gtn-bench meta`'s
/// arithmetic floor: issue 10 asks how much of a meta-iteration is products that any
/// implementation must compute). `gemm` is what OpenBLAS was asked to do (2 m n k per call);
/// `direct` is what the same convolutions and matrix products cost computed directly (the
/// product count of im2col, i.e. PyTorch's CPU kernels), so their ratio is Winograd's saving.
public enum FlopTally {
    /// GTN_PROFILE=1; also what turns on `OpProfiler`, which reads it from here.
    public static let isEnabled = ProcessInfo.processInfo.environment["GTN_PROFILE"] == "1"
    static let gemmFlops = Atomic<Int>(0)
    static let directFlops = Atomic<Int>(0)

    @inline(__always) static func gemm(_ m: Int, _ n: Int, _ k: Int) {
        if isEnabled { gemmFlops.add(2 * m * n * k, ordering: .relaxed) }
    }
    @inline(__always) static func direct(_ flops: Int) {
        if isEnabled { directFlops.add(flops, ordering: .relaxed) }
    }
    /// (gemm, direct) flops since the process started.
    public static var totals: (gemm: Int, direct: Int) {
        (gemmFlops.load(ordering: .relaxed), directFlops.load(ordering: .relaxed))
    }
}

/// The element types a `Tensor` can hold: `Float` for training, `Double` for derivative checks.
///
/// Everything a kernel needs that differs between the two precisions lives here, so kernels are
/// written once, generically, and specialised for both types (`@_specialize` on the entry points).
public protocol TensorScalar: BinaryFloatingPoint, SIMDScalar, Sendable, CustomStringConvertible
where RawSignificand: FixedWidthInteger {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// C = alpha * op(A) * op(B) + beta * C, row-major, through OpenBLAS.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

/// OpenBLAS runs single-threaded: the tensor layer splits work over the cores itself, so that a
/// gemm issued from inside a parallel region never oversubscribes the machine.
let blasThreadsConfigured: Void = { openblas_set_num_threads(1) }()

@inline(__always) private func trans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: TensorScalar {
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = blasThreadsConfigured
        FlopTally.gemm(m, n, k)
        cblas_sgemm(
            CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: TensorScalar {
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        _ = blasThreadsConfigured
        FlopTally.gemm(m, n, k)
        cblas_dgemm(
            CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Sets OpenBLAS's own thread count. Only benchmarks use this, to measure the library's native
/// multi-threaded sgemm next to ours; the tensor layer itself always calls BLAS single-threaded.
public func setBLASThreads(_ n: Int) {
    _ = blasThreadsConfigured
    openblas_set_num_threads(Int32(n))
}
