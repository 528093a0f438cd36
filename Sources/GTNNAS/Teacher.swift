import Foundation
import GTN
import GTNIO
import GTNTensor

/// Which architecture of a space each meta-iteration of a NAS teacher (`gtn nas --train-gtn`)
/// trains. A GTN meta-trained on a new random architecture from the first iteration stays at
/// chance, while one that first learns to teach a single architecture and only then a pool of them
/// keeps learning (docs/NOTES.md, issue 15): hence an optional warm-up on one architecture before
/// the pool (or before a new architecture every time, when there is no pool).
public struct TeacherArchitectures<Space: SearchSpace>: Sendable {
    public let space: Space
    /// The fixed architectures to draw from after the warm-up; empty: a new one every time.
    public let pool: [Space.Genome]
    /// Meta-iterations 0 ..< warmup train `warmupGenome` only.
    public let warmup: Int
    /// The pool's first genome, or (no pool) the first drawn from the seed; nil without a warm-up.
    public let warmupGenome: Space.Genome?

    /// `poolSize` distinct genomes drawn from `seed` (0: no pool). Seeded by `seed` alone, so a
    /// resumed run draws the same ones; the pool of a smaller `poolSize` is a prefix of a larger's.
    public init(space: Space, poolSize: Int, warmup: Int, seed: UInt64) {
        precondition(poolSize >= 0 && warmup >= 0, "TeacherArchitectures: negative pool size or warm-up")
        var rng = RandomSource(seed: seed ^ 0x6E61_7370_6F6F_6C00)
        // (Fewer than asked only if a tiny space runs out of distinct genomes.)
        let drawn = space.sampleDistinct(max(poolSize, warmup > 0 ? 1 : 0), &rng)
        (self.space, self.warmup) = (space, warmup)
        pool = poolSize > 0 ? drawn : []
        warmupGenome = warmup > 0 ? drawn.first : nil
        precondition(warmup == 0 || warmupGenome != nil, "TeacherArchitectures: the space has no genome")
    }

    /// The architecture of an episode of meta-iteration `metaIteration`, drawn from `rng` (the
    /// episode's own random source) once the warm-up is over.
    public func genome(_ rng: inout RandomSource, metaIteration: Int) -> Space.Genome {
        if metaIteration < warmup, let g = warmupGenome { return g }
        if pool.isEmpty { return space.sample(&rng) }
        return pool[Int(rng.next() % UInt64(pool.count))]
    }
}

/// A new NAS teacher's defaults (`gtn nas --train-gtn`): the recipe measured to learn in
/// docs/NOTES.md (issue 15, sessions of 2026-12-06). A teacher started on a new architecture every
/// time stayed at chance; half of its meta-iterations on one architecture first, the meta-gradient
/// clipped at 3 (a sampled network that diverges in its inner steps sends a spike) and an initial
/// inner lr of 0.05 taught unseen architectures better than 8 steps of real data.
public enum NASTeacherDefaults {
    public static let innerLearningRate = 0.05
    public static let gradientClip = 3.0
    /// Meta-iterations on one architecture before new ones, for a teacher of `iterations`.
    public static func warmup(iterations: Int) -> Int { iterations / 2 }
}

/// A NAS teacher's architecture schedule (`TeacherArchitectures`' pool size and warm-up), kept in
/// its run directory so that the same command resumes it with the same schedule, also when a
/// larger N extends it.
public struct TeacherSchedule: RunFile, Equatable, Sendable {
    /// Fixed architectures to draw from (0: a new one every meta-iteration).
    public var pool: Int
    /// Meta-iterations on one architecture first.
    public var warmup: Int
    public static let fileName = "architectures.json"
    public static let describedAs = "the architecture schedule of a NAS teacher"

    public init(pool: Int, warmup: Int) { (self.pool, self.warmup) = (pool, warmup) }

    /// The schedule of the teacher in `directory`, and writes it there (atomically): what is given
    /// (`pool`, `warmup`: flags) wins, then what the directory keeps if the teacher is resumed, then
    /// the defaults (no pool; the default warm-up for a new teacher, none for one resumed from
    /// before the warm-up existed, i.e. without the file).
    public static func resolve(directory: String, resuming: Bool, iterations: Int, pool: Int?, warmup: Int?) throws
        -> TeacherSchedule
    {
        let kept = resuming ? try load(runDirectory: directory) : nil
        let schedule = TeacherSchedule(
            pool: pool ?? kept?.pool ?? 0,
            warmup: warmup ?? kept?.warmup ?? (resuming ? 0 : NASTeacherDefaults.warmup(iterations: iterations)))
        try schedule.write(runDirectory: directory)
        return schedule
    }
}
