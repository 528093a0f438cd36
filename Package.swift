// Layers, each depending only on those above it (see docs/ARCHITECTURE.md):
//   CBLAS, CXSMM -> GTNTensor -> GTNAutodiff -> (NN, Data, GTN, NAS) -> gtn CLI
import Foundation
// swift-tools-version: 6.0
import PackageDescription

/// The CPU the Swift code is compiled for. Winograd's transforms are written as 8-lane vector
/// code (SIMD8), which needs AVX2 to run as one register per vector; baseline x86-64 is SSE2.
/// So on an x86-64 Linux machine with AVX2 and FMA the targets are built for `haswell` (AVX2,
/// FMA, BMI2; no AVX-512). Floating-point results are unchanged: Swift never contracts a * b + c
/// into an FMA on its own. GTN_TARGET_CPU overrides the choice: a `swiftc -target-cpu` name, or
/// `generic` for the toolchain's default.
let targetCPU: String? = {
    if let cpu = ProcessInfo.processInfo.environment["GTN_TARGET_CPU"] { return cpu == "generic" ? nil : cpu }
    #if os(Linux) && arch(x86_64)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(line.split(separator: " "))
        return flags.contains("avx2") && flags.contains("fma") ? "haswell" : nil
    #else
        return nil
    #endif
}()
let optimise: [SwiftSetting] = targetCPU.map { [.unsafeFlags(["-target-cpu", $0])] } ?? []

let package = Package(
    name: "GTN",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "GTNTensor", targets: ["GTNTensor"]),
        .library(name: "GTNAutodiff", targets: ["GTNAutodiff"]),
        .library(name: "GTNData", targets: ["GTNData"]),
        .library(name: "GTNIO", targets: ["GTNIO"]),
        .executable(name: "gtn", targets: ["gtn"]),
        .executable(name: "gtn-bench", targets: ["gtn-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Zip archives for NumPy's .npz (gtn export --format npz).
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        // OpenBLAS from Debian (libopenblas-dev), reached through pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // libxsmm from Debian (libxsmm-dev): run-time generated kernels for the many small matrix
        // products of a Winograd convolution.
        .systemLibrary(name: "CXSMM", pkgConfig: "libxsmm", providers: [.apt(["libxsmm-dev"])]),
        // glibc's malloc tuning (mallopt), which Swift's Glibc module does not export.
        .systemLibrary(name: "CMalloc"),
        // zlib from Debian (zlib1g-dev), for gzip-compressed IDX files.
        .systemLibrary(name: "SystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Open MPI from Debian (libopenmpi-dev), for `mpirun -np N gtn train`.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "GTNTensor", dependencies: ["CBLAS", "CXSMM", "CMalloc"], swiftSettings: optimise),
        .target(name: "GTNAutodiff", dependencies: ["GTNTensor"], swiftSettings: optimise),
        .target(name: "GTNData", dependencies: ["GTNTensor", "SystemZlib"], swiftSettings: optimise),
        .target(
            name: "GTNIO",
            dependencies: ["GTNTensor", "SystemZlib", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: optimise),
        .target(name: "GTNNN", dependencies: ["GTNTensor", "GTNAutodiff"], swiftSettings: optimise),
        .target(
            name: "GTN", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTNIO", "GTNTune"],
            swiftSettings: optimise),
        .target(
            name: "GTNNAS", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTNIO", "GTN"],
            swiftSettings: optimise),
        // Reinforcement learning: gymnasium-matched environments, A2C, GTN-RL (paper Fig. 8).
        .target(name: "GTNRL", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN"], swiftSettings: optimise),
        // Bayesian optimisation of hyperparameters (Gaussian process, expected improvement).
        .target(name: "GTNTune", dependencies: ["GTNTensor"], swiftSettings: optimise),
        // Meta-gradients averaged over MPI ranks (GTN's `Collective` over Open MPI).
        .target(name: "GTNMPI", dependencies: ["CMPI", "GTN"], swiftSettings: optimise),
        .executableTarget(
            name: "gtn",
            dependencies: [
                "GTN", "GTNNAS", "GTNData", "GTNIO", "GTNTensor", "GTNMPI", "GTNRL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimise),
        .executableTarget(
            name: "gtn-bench",
            dependencies: [
                "GTNTensor", "GTNAutodiff", "GTNNN", "GTN",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimise),
        .testTarget(name: "GTNTensorTests", dependencies: ["GTNTensor"]),
        .testTarget(name: "GTNAutodiffTests", dependencies: ["GTNTensor", "GTNAutodiff"]),
        .testTarget(
            name: "GTNTests", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTN", "GTNTune"]),
        .testTarget(name: "GTNDataTests", dependencies: ["GTNTensor", "GTNData"]),
        .testTarget(name: "GTNIOTests", dependencies: ["GTNTensor", "GTNIO", "SystemZlib"]),
        // Runs the built `gtn` binary as a user would (the dependency makes SwiftPM build it first).
        .testTarget(name: "GTNCLITests", dependencies: ["gtn", "GTNData", "GTNIO"]),
        .testTarget(name: "GTNTuneTests", dependencies: ["GTNTensor", "GTNTune"]),
        // Fixtures: trajectories recorded from gymnasium (scripts/record-gym-fixtures.py), read by path.
        .testTarget(name: "GTNRLTests", dependencies: ["GTNTensor", "GTNRL"], exclude: ["Fixtures"]),
        .testTarget(
            name: "GTNNASTests", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTN", "GTNNAS"]),
    ],
    swiftLanguageModes: [.v5]
)
