import Foundation

#if canImport(CMalloc)
    import CMalloc
#endif

/// How many workers the tensor layer splits large kernels over: GTN_THREADS or OMP_NUM_THREADS if
/// set; otherwise the machine's cores, shared among the MPI ranks on this machine
/// (OMPI_COMM_WORLD_LOCAL_SIZE, set by mpirun), so N ranks on one machine do not oversubscribe it.
public let workerCount: Int = {
    let env = ProcessInfo.processInfo.environment
    if let n = Int(env["GTN_THREADS"] ?? env["OMP_NUM_THREADS"] ?? ""), n >= 1 { return n }
    let ranksHere = max(1, Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    return max(1, ProcessInfo.processInfo.activeProcessorCount / ranksHere)
}()

/// Runs `body(range)` over `0..<count` split into contiguous chunks, one per worker, when the work
/// is large enough to pay for a thread hand-off (`grain` is the smallest chunk worth a thread).
@inline(__always)
func parallelChunks(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let chunks = Swift.min(workerCount, count / max(grain, 1))
    if chunks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = count * c / chunks
        let hi = count * (c + 1) / chunks
        body(lo..<hi)
    }
}

/// The smallest chunk of elementwise work worth a second thread: elementwise and broadcast kernels
/// split only from twice this many elements on (reductions have their own, `reductionGrain`).
/// Measured with the typed kernels of Elementwise.swift: on a 2-core EPYC (2026-12-02/03) two workers were as fast as one, no
/// faster, at every grain from 32K to 512K (`gtn-bench engine --parts elementwise`, and the
/// meta-iteration: 4.26 vs 4.07 s); on a 2-core Sapphire Rapids Xeon (2026-12-06) a T = 8
/// meta-iteration took 3.25-3.76 s with 262144 against 3.62-4.20 s on one core (interleaved, four
/// rounds; -13% by the medians). Never worse, sometimes better: 262144 it is. GTN_ELEMENTWISE_GRAIN
/// overrides it (a huge value keeps these kernels on one core).
let elementwiseGrain = Int(ProcessInfo.processInfo.environment["GTN_ELEMENTWISE_GRAIN"] ?? "") ?? 262_144

/// The smallest share of a reduction (sum, sum of squares) worth a second thread. A reduction
/// splits over its outputs, never over the terms of one sum, so its bits do not depend on the
/// number of cores (Reduce.swift). That matters: the meta-gradient amplifies rounding (max
/// pooling's ties; FastPathEquivalenceTests' im2col-vs-Winograd distance went from 3.6e-3 to
/// 1.1e-2 when an earlier version split sums over their terms). GTN_REDUCTION_GRAIN overrides it.
let reductionGrain = Int(ProcessInfo.processInfo.environment["GTN_REDUCTION_GRAIN"] ?? "") ?? 262_144

enum DispatchQueueHelper {
    @inline(__always)
    static func concurrent(_ n: Int, _ body: (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: n, execute: body)
    }
}

/// Tensors of a few MB are allocated and freed thousands of times per meta-iteration. glibc would
/// serve each from a fresh mmap and hand it back on free, paying a page fault per 4 KiB every
/// time; keeping them on the heap (up to the 32 MiB cap) and never trimming it reuses warm pages
/// (an unrolled inner loop frees and re-allocates gigabytes per checkpointed block).
@usableFromInline let allocatorConfigured: Void = {
    #if canImport(CMalloc)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    #endif
}()
