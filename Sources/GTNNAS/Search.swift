import GTNTensor

/// One architecture a search looked at, in the order it was proposed.
public struct SearchCandidate<Genome: Hashable & Sendable>: Sendable {
    public var genome: Genome
    public var fitness: Double
    public init(genome: Genome, fitness: Double) { (self.genome, self.fitness) = (genome, fitness) }
}

/// Search strategies over a `SearchSpace`, driven by a fitness function (the GTN proxy's accuracy
/// in `gtn nas`). Both return the whole history in proposal order; `best(_:k:)` picks the top-k.
public enum Search {
    /// Random search: `budget` genomes drawn uniformly (distinct by string form where the space
    /// allows), each scored once.
    public static func random<Space: SearchSpace>(
        _ space: Space, budget: Int, rng: inout RandomSource,
        fitness: (Space.Genome) throws -> Double,
        progress: ((Int, SearchCandidate<Space.Genome>) -> Void)? = nil
    ) rethrows -> [SearchCandidate<Space.Genome>] {
        var history: [SearchCandidate<Space.Genome>] = []
        for g in space.sampleDistinct(budget, &rng) {
            history.append(SearchCandidate(genome: g, fitness: try fitness(g)))
            progress?(history.count - 1, history.last!)
        }
        return history
    }

    /// Regularised (aging) evolution, Real et al. 2019: a population of `population` random genomes;
    /// then, until `budget` genomes have been scored, draw `sample` members at random (with
    /// replacement, as in the paper's pseudo-code), mutate the fittest of them, score the child,
    /// add it and drop the oldest member. Genomes proposed again are scored again through
    /// `fitness` (a cached evaluator makes that free).
    public static func regularizedEvolution<Space: SearchSpace>(
        _ space: Space, population: Int, sample: Int, budget: Int, rng: inout RandomSource,
        fitness: (Space.Genome) throws -> Double,
        progress: ((Int, SearchCandidate<Space.Genome>) -> Void)? = nil
    ) rethrows -> [SearchCandidate<Space.Genome>] {
        precondition(population >= 1 && sample >= 1, "regularizedEvolution: population and sample must be at least 1")
        var history: [SearchCandidate<Space.Genome>] = []
        var alive: [SearchCandidate<Space.Genome>] = []  // oldest first
        func add(_ g: Space.Genome) throws {
            let c = SearchCandidate(genome: g, fitness: try fitness(g))
            history.append(c)
            alive.append(c)
            progress?(history.count - 1, c)
        }
        for g in space.sampleDistinct(min(population, budget), &rng) { try add(g) }
        while history.count < budget {
            var parent = alive[Int(rng.next() % UInt64(alive.count))]
            for _ in 1..<sample {
                let c = alive[Int(rng.next() % UInt64(alive.count))]
                if c.fitness > parent.fitness { parent = c }
            }
            try add(space.mutate(parent.genome, &rng))
            if alive.count > population { alive.removeFirst() }
        }
        return history
    }

    /// The `k` fittest distinct genomes (by string form) of a history, fittest first (ties: the
    /// earlier proposal first).
    public static func best<Genome>(_ history: [SearchCandidate<Genome>], k: Int) -> [SearchCandidate<Genome>] {
        var seen = Set<String>()
        var out: [SearchCandidate<Genome>] = []
        let order = history.indices.sorted { (history[$0].fitness, -$0) > (history[$1].fitness, -$1) }
        for i in order where out.count < k {
            if seen.insert(String(describing: history[i].genome)).inserted { out.append(history[i]) }
        }
        return out
    }
}
