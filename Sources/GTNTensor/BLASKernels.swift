import CBLAS
import Foundation

/// Which of OpenBLAS's kernel sets this process runs, and a way out when OpenBLAS picked a weak one.
///
/// OpenBLAS chooses its kernels for the CPU when the library is loaded, before any of our code
/// runs. A CPU newer than the OpenBLAS build does not match any model it knows, and it then falls
/// back to its oldest x86-64 kernels ("Prescott", SSE3). Debian's OpenBLAS 0.3.21 does this on a
/// Sapphire Rapids Xeon (avx512_fp16): sgemm 2048³ ran at 61 GFLOP/s there instead of 280 with the
/// AVX-512 kernels (measured 2026-12-06), which made every matrix product and convolution 4x
/// slower without a word. The choice can only be changed before the library loads, through
/// OPENBLAS_CORETYPE, so a program that finds the fallback on a CPU with AVX2 and FMA re-executes
/// itself once with that variable set (`useCapableKernels`). Setting OPENBLAS_CORETYPE yourself
/// (to anything) turns this off.
public enum BLASKernels {
    /// OpenBLAS's name for the kernels it runs ("Haswell", "SkylakeX", "Prescott", ...).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Kernel sets that use AVX2 and FMA or better: nothing to gain by switching away from these.
    static let capableCores: Set<String> = [
        "haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator", "steamroller",
    ]

    /// The OpenBLAS core type for a CPU with these /proc/cpuinfo flags, or nil when it has no
    /// AVX2 and FMA (OpenBLAS's own choice is then as good as any).
    public static func capableCore(forFlags flags: Set<String>) -> String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The CPU's feature flags (the first "flags" line of /proc/cpuinfo); empty where there is none.
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// The core type to re-execute with, or nil to carry on: nil when OPENBLAS_CORETYPE is already
    /// set, when OpenBLAS already runs capable kernels, or when the CPU has nothing better.
    public static func replacementCore(
        environment: [String: String], current: String, flags: Set<String>
    ) -> String? {
        if environment["OPENBLAS_CORETYPE"] != nil { return nil }
        if capableCores.contains(current.lowercased()) { return nil }
        return capableCore(forFlags: flags)
    }

    /// Call first thing in `main`: when OpenBLAS fell back to kernels below what the CPU can run,
    /// sets OPENBLAS_CORETYPE and executes this program again with the same arguments (the same
    /// process id, so a supervisor or mpirun sees nothing). Returns when there is nothing to do or
    /// the re-execution failed (then with a warning on stderr; the run goes on, only slower).
    public static func useCapableKernels() {
        let environment = ProcessInfo.processInfo.environment
        guard let core = replacementCore(environment: environment, current: coreName, flags: cpuFlags()) else {
            return
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write(
            Data(
                ("gtn: OpenBLAS runs its \(coreName) kernels on a CPU that could run \(core); restarting with "
                    + "OPENBLAS_CORETYPE=\(core) failed (\(reason)). Set OPENBLAS_CORETYPE=\(core) yourself for "
                    + "~4x faster matrix products.\n").utf8))
    }
}
