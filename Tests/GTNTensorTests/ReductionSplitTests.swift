import Testing

@testable import GTNTensor

// A reduction large enough to split over threads must give the bits it gives on one core: the
// split is over outputs, and each output adds its terms in the same order (Reduce.swift). Inputs
// are random Floats, whose sums round, so any change of order would show.

@Test(arguments: [
    // Mean-only batch norm's sums ([N, C, H, W] -> [1, C, 1, 1]): the summed dimension innermost.
    ([64, 64, 14, 14], [1, 64, 1, 1]), ([128, 128, 7, 7], [1, 128, 1, 1]),
    // Bias gradients and weight norms ([rows, n] -> [n]): the kept dimension innermost.
    ([128, 6272], [1, 6272]), ([3200, 256], [1, 256]), ([6272, 128], [6272, 1]),
    // Mixed, and outputs fewer than the threads.
    ([8, 40, 50, 64], [8, 1, 1, 64]), ([270_000, 2], [1, 2]), ([2, 270_000], [2, 1]), ([600_000], []),
])
func splitReductionHasTheOneCoreBits(_ shapes: ([Int], [Int])) {
    let (shape, target) = shapes
    let x = Tensor<Float>(shape: shape, scalars: randomScalars(shape.reduce(1, *), seed: UInt64(shape.reduce(7, *))))
    #expect(x.count / reductionGrain >= 2, "\(shape) is too small to split")
    let one = x.reduced(toShape: target, "sum", Identity.self, workers: 1)
    for workers in [2, 3] {
        let split = x.reduced(toShape: target, "sum", Identity.self, workers: workers)
        #expect(split.scalars == one.scalars, "sum \(shape) -> \(target) on \(workers) threads")
        let squares = x.reduced(toShape: target, "sumOfSquares", Square.self, workers: workers)
        #expect(
            squares.scalars == x.reduced(toShape: target, "sumOfSquares", Square.self, workers: 1).scalars,
            "sumOfSquares \(shape) -> \(target) on \(workers) threads")
    }
    // The public entry points take the same path.
    #expect(x.sum(toShape: target).scalars == one.scalars)
}
