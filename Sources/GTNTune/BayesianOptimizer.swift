import Foundation
import GTNTensor

/// One dimension of a search space: a named range (linear or logarithmic, real or integer) or a
/// list of choices. Mapped to [0, 1] for the surrogate model.
public struct SearchDimension: Codable, Sendable, Hashable {
    public enum Scale: String, Codable, Sendable { case linear, log }
    public var name: String
    public var low: Double?
    public var high: Double?
    public var scale: Scale?
    public var integer: Bool?
    public var choices: [String]?

    public init(name: String, low: Double, high: Double, scale: Scale = .linear, integer: Bool = false) {
        (self.name, self.low, self.high, self.scale, self.integer, self.choices) = (
            name, low, high, scale, integer, nil
        )
    }

    public init(name: String, choices: [String]) {
        (self.name, self.choices) = (name, choices)
    }

    /// Why this dimension cannot be used, if it cannot.
    public var problem: String? {
        if let c = choices { return c.isEmpty ? "\(name): choices is empty" : nil }
        guard let low, let high, low.isFinite, high.isFinite, low < high else {
            return "\(name): needs low < high (finite), or choices"
        }
        if scale == .log && low <= 0 { return "\(name): a log scale needs low > 0, got \(low)" }
        return nil
    }

    /// A unit-cube coordinate to the value it stands for (choices: the index, as a number).
    public func value(_ u: Double) -> Double {
        let u = min(max(u, 0), 1)
        if let c = choices { return Double(min(Int(u * Double(c.count)), c.count - 1)) }
        let (lo, hi) = (low!, high!)
        var v =
            scale == .log
            ? Foundation.exp(Foundation.log(lo) + u * (Foundation.log(hi) - Foundation.log(lo))) : lo + u * (hi - lo)
        if integer == true { v = v.rounded() }
        return min(max(v, lo), hi)
    }

    /// A value to its unit-cube coordinate (choices: the middle of the index's cell).
    public func unit(_ v: Double) -> Double {
        if let c = choices { return (v + 0.5) / Double(c.count) }
        let (lo, hi) = (low!, high!)
        let u =
            scale == .log
            ? (Foundation.log(v) - Foundation.log(lo)) / (Foundation.log(hi) - Foundation.log(lo))
            : (v - lo) / (hi - lo)
        return min(max(u, 0), 1)
    }
}

/// Bayesian optimisation of a function to minimise over a `SearchDimension` space: a few random
/// points first, then each suggestion maximises the expected improvement of a Gaussian process
/// (Matérn 5/2) fitted to everything seen, by random search plus local refinement. Failed
/// evaluations (diverged runs) enter the model at a penalty: the worst value seen so far plus its
/// spread, so the region is avoided without distorting the scale. Deterministic given the seed and
/// the observations, so a resumed study suggests exactly what the uninterrupted one would.
public struct BayesianOptimizer: Sendable {
    public let space: [SearchDimension]
    public var initialRandom: Int
    public var seed: UInt64
    /// Observed points (unit cube) and values (nil: failed).
    public private(set) var points: [[Double]] = []
    public private(set) var values: [Double?] = []

    public init(space: [SearchDimension], initialRandom: Int = 5, seed: UInt64 = 0) {
        (self.space, self.initialRandom, self.seed) = (space, initialRandom, seed)
    }

    public mutating func observe(_ point: [Double], _ value: Double?) {
        points.append(point)
        values.append(value.flatMap { $0.isFinite ? $0 : nil })
    }

    /// The values the model sees: failures replaced by the penalty.
    var modelled: [Double] {
        let ok = values.compactMap { $0 }
        guard let worst = ok.max(), let best = ok.min() else { return values.map { _ in 1 } }
        let penalty = worst + max(worst - best, 1e-3)
        return values.map { $0 ?? penalty }
    }

    /// The next point to evaluate (unit cube), and its expected improvement (nil for random ones).
    public func suggest() -> (point: [Double], expectedImprovement: Double?) {
        let d = space.count
        var rng = RandomSource(seed: seed &+ 0x5EED &* UInt64(points.count + 1))
        func random() -> [Double] { (0..<d).map { _ in rng.uniform(Double.self) } }
        if points.count < initialRandom || values.allSatisfy({ $0 == nil }) { return (random(), nil) }
        let gp = GaussianProcess.fit(inputs: points, outputs: modelled, seed: seed &+ UInt64(points.count))
        let best = modelled.min()!
        func score(_ candidates: [[Double]]) -> [Double] {
            let p = gp.predict(candidates)
            return zip(p.mean, p.sd).map { expectedImprovement(mean: $0, sd: $1, best: best) }
        }
        var candidates = (0..<1000).map { _ in random() }
        var scores = score(candidates)
        // Local refinement around the five best candidates and the best point seen.
        var starts = Array(candidates.indices.sorted { scores[$0] > scores[$1] }.prefix(5).map { candidates[$0] })
        if let b = modelled.indices.min(by: { modelled[$0] < modelled[$1] }) { starts.append(points[b]) }
        for radius in [0.1, 0.03, 0.01] {
            let local = starts.flatMap { s in
                (0..<40).map { _ in s.map { min(max($0 + radius * rng.normal(Double.self), 0), 1) } }
            }
            candidates += local
            scores += score(local)
            starts = Array(candidates.indices.sorted { scores[$0] > scores[$1] }.prefix(5).map { candidates[$0] })
        }
        let i = scores.indices.max { scores[$0] < scores[$1] }!
        return (candidates[i], scores[i])
    }

    /// A unit-cube point as named values.
    public func decode(_ point: [Double]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(space, point).map { ($0.name, $0.value($1)) })
    }
}
