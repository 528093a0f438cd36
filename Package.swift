// swift-tools-version: 6.0
import PackageDescription

// Layers, each depending only on those above it (see docs/ARCHITECTURE.md):
//   CBLAS -> GTNTensor -> GTNAutodiff -> (NN, Data, GTN, NAS) -> gtn CLI
let optimise: [SwiftSetting] = []

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
    ],
    targets: [
        // OpenBLAS from Debian (libopenblas-dev), reached through pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // glibc's malloc tuning (mallopt), which Swift's Glibc module does not export.
        .systemLibrary(name: "CMalloc"),
        // zlib from Debian (zlib1g-dev), for gzip-compressed IDX files.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "GTNTensor", dependencies: ["CBLAS", "CMalloc"], swiftSettings: optimise),
        .target(name: "GTNAutodiff", dependencies: ["GTNTensor"], swiftSettings: optimise),
        .target(name: "GTNData", dependencies: ["GTNTensor", "CZlib"], swiftSettings: optimise),
        .target(name: "GTNIO", dependencies: ["GTNTensor", "CZlib"], swiftSettings: optimise),
        .target(name: "GTNNN", dependencies: ["GTNTensor", "GTNAutodiff"], swiftSettings: optimise),
        .target(name: "GTN", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTNIO"], swiftSettings: optimise),
        .target(name: "GTNNAS", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTNIO", "GTN"], swiftSettings: optimise),
        .executableTarget(
            name: "gtn",
            dependencies: ["GTN", "GTNNAS", "GTNData", "GTNIO", "GTNTensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimise),
        .executableTarget(
            name: "gtn-bench",
            dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTN",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimise),
        .testTarget(name: "GTNTensorTests", dependencies: ["GTNTensor"]),
        .testTarget(name: "GTNAutodiffTests", dependencies: ["GTNTensor", "GTNAutodiff"]),
        .testTarget(name: "GTNTests", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTN"]),
        .testTarget(name: "GTNDataTests", dependencies: ["GTNTensor", "GTNData"]),
        .testTarget(name: "GTNIOTests", dependencies: ["GTNTensor", "GTNIO", "CZlib"]),
        .testTarget(name: "GTNNASTests", dependencies: ["GTNTensor", "GTNAutodiff", "GTNNN", "GTNData", "GTN", "GTNNAS"]),
    ],
    swiftLanguageModes: [.v5]
)
