import GTNTensor
import Testing

/// When OpenBLAS's own CPU detection falls back to weak kernels, `BLASKernels` picks capable ones.
struct BLASKernelsTests {
    let sapphireRapids: Set<String> = [
        "sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq",
        "avx512cd", "avx512_fp16",
    ]

    @Test func fallbackOnAModernCPUIsReplaced() {
        #expect(BLASKernels.replacementCore(environment: [:], current: "Prescott", flags: sapphireRapids) == "SkylakeX")
        #expect(
            BLASKernels.replacementCore(environment: [:], current: "Sandybridge", flags: ["avx", "avx2", "fma"])
                == "Haswell")
    }

    @Test func capableKernelsTheUsersChoiceAndOldCPUsAreLeftAlone() {
        for current in ["Haswell", "SkylakeX", "Cooperlake", "Zen"] {
            #expect(BLASKernels.replacementCore(environment: [:], current: current, flags: sapphireRapids) == nil)
        }
        let userSet = ["OPENBLAS_CORETYPE": "Prescott"]
        #expect(BLASKernels.replacementCore(environment: userSet, current: "Prescott", flags: sapphireRapids) == nil)
        #expect(BLASKernels.replacementCore(environment: [:], current: "Prescott", flags: ["sse3", "avx"]) == nil)
        #expect(BLASKernels.replacementCore(environment: [:], current: "Prescott", flags: []) == nil)
    }

    @Test func coreNameIsReported() {
        #expect(!BLASKernels.coreName.isEmpty)
    }
}
