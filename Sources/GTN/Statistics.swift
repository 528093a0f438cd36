/// Mean of `xs` (0 for none).
public func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }

/// Sample standard deviation of `xs` (divisor n - 1; 0 for fewer than two values): the spread
/// reported for learners, seeds and per-step curves.
public func sampleStandardDeviation(_ xs: [Double]) -> Double {
    let m = mean(xs)
    return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(1, xs.count - 1))).squareRoot()
}
