import Foundation

/// A seeded, reproducible random source (xoshiro256**, seeded through SplitMix64). Every random
/// draw in GTN goes through one of these, so a run is a function of its seed.
public struct RandomSource: RandomNumberGenerator, Sendable, Codable, Hashable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var z = seed
        func splitMix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = state[3] << 45 | state[3] >> 19
        return result
    }

    /// Uniform in [0, 1): a random integer with as many bits as S's significand, scaled, so the
    /// result is exact in S and never rounds up to 1.
    public mutating func uniform<S: TensorScalar>(_: S.Type = S.self) -> S {
        let bits = S.significandBitCount + 1
        return S(next() >> UInt64(64 - bits)) * S(sign: .plus, exponent: S.Exponent(-bits), significand: 1)
    }

    /// Standard normal (Box-Muller).
    public mutating func normal<S: TensorScalar>(_: S.Type = S.self) -> S {
        let a = next()
        return Self.boxMuller(a, next())
    }

    /// The standard normal that `normal()` makes of two consecutive draws.
    @inline(__always)
    static func boxMuller<S: TensorScalar>(_ a: UInt64, _ b: UInt64) -> S {
        let u1 = max(Double(a >> 11) * 0x1.0p-53, .leastNonzeroMagnitude)
        let u2 = Double(b >> 11) * 0x1.0p-53
        return S((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * u2))
    }

    /// A different, independent stream derived from this one (for per-worker or per-step draws).
    public mutating func split() -> RandomSource { RandomSource(seed: next()) }
}

extension Tensor {
    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func randomNormal(_ shape: [Int], mean: S = 0, std: S = 1, using rng: inout RandomSource) -> Tensor {
        // The draws come from the one stream, in order; their Box-Muller transforms (a log, a
        // square root and a cosine each: most of the cost, ~50 ms for a fresh learner's 1.7
        // million weights) then run on all workers. The same numbers as `rng.normal()` one by one.
        let n = shape.reduce(1, *)
        let draws = [UInt64](unsafeUninitializedCapacity: 2 * n) { d, initialised in
            for i in 0..<2 * n { d[i] = rng.next() }
            initialised = 2 * n
        }
        return Tensor(shape: shape) { out in
            let out = out
            draws.withUnsafeBufferPointer { d in
                parallelChunks(n, grain: 1 << 14) { r in
                    for i in r { out[i] = mean + std * RandomSource.boxMuller(d[2 * i], d[2 * i + 1]) }
                }
            }
        }
    }

    @_specialize(where S == Float) @_specialize(where S == Double)
    public static func randomUniform(_ shape: [Int], low: S = 0, high: S = 1, using rng: inout RandomSource) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in low + (high - low) * rng.uniform(S.self) })
    }
}
