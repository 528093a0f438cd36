import Foundation
import GTN
import GTNData
import GTNTensor
import Testing
@testable import GTNNAS

@Test func spearmanMatchesHandComputedValues() throws {
    #expect(averageRanks([3, 1, 3, 2]) == [3.5, 1, 3.5, 2])
    #expect(averageRanks([5, 5, 5]) == [2, 2, 2])
    // No ties: 1 - 6 Σd² / (n(n²-1)) = 1 - 6·4/120.
    #expect(abs(try #require(spearmanCorrelation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])) - 0.8) < 1e-12)
    #expect(spearmanCorrelation([1, 2, 3], [10, 20, 35]) == 1)
    #expect(spearmanCorrelation([1, 2, 3], [3, 2, 1]) == -1)
    // Ties in y: ranks (1, 2, 3.5, 5, 3.5) against (1, 2, 3, 4, 5): 8 / sqrt(10 · 9.5) (scipy: 0.8207826816681233).
    let tied = try #require(spearmanCorrelation([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]))
    #expect(abs(tied - 8 / (95.0).squareRoot()) < 1e-12)
    #expect(abs(tied - 0.8207826816681233) < 1e-12)
    // Monotone transformations do not matter; constants and single points are undefined.
    #expect(abs(try #require(spearmanCorrelation([0.1, 0.5, 0.2, 0.9], [1, 30, 2, 1000])) - 1) < 1e-12)
    #expect(spearmanCorrelation([1, 2, 3], [4, 4, 4]) == nil)
    #expect(spearmanCorrelation([1], [2]) == nil)
}

@Test func topTenPercentOverlapOnAHandMadeExample() {
    #expect(topTenPercentCount(100) == 10)
    #expect(topTenPercentCount(6) == 1)
    #expect(topTenPercentCount(15) == 2)
    // 20 architectures, k = 2. Proxy's best: #3 then #7; real's best: #7 then #12 -> overlap 1.
    var proxy = (0..<20).map { Double($0) / 100 }, real = (0..<20).map { Double(20 - $0) / 100 }
    proxy[3] = 0.9; proxy[7] = 0.8
    real[7] = 0.95; real[12] = 0.9
    #expect(topIndices(proxy, k: 2) == [3, 7])
    #expect(topIndices(real, k: 2) == [7, 12])
    #expect(topOverlap(proxy: proxy, real: real, k: 2) == 1)
    #expect(topOverlap(proxy: proxy, real: proxy, k: 5) == 5)
    // Ties break towards the earlier index.
    #expect(topIndices([0.5, 0.7, 0.7, 0.1], k: 2) == [1, 2])
}

func row(_ g: String, _ p: Double, _ r: Double, _ ps: Double = 1, _ rs: Double = 10) -> StudyRow {
    StudyRow(genome: g, proxy: Evaluation(genome: g, accuracy: p, seconds: ps), real: Evaluation(genome: g, accuracy: r, seconds: rs), parameters: 100)
}

@Test func studySummaryCSVAndReport() throws {
    // Proxy order a > b > c > d; real order a > c > b > d (top half: a, b -> real a > c... b below a: rho 1).
    let rows = [row("a@0", 0.9, 0.8, 1, 12), row("b@0", 0.8, 0.6, 2, 8), row("c@0", 0.7, 0.7), row("d@0", 0.6, 0.5)]
    let s = StudySummary(rows: rows)
    #expect(s.architectures == 4 && s.topK == 1 && s.topOverlap == 1)
    #expect(abs(s.spearman! - 0.8) < 1e-12)
    #expect(s.spearmanProxyTopHalf == 1)
    #expect(abs(s.proxySeconds - 1.25) < 1e-12 && abs(s.realSeconds - 10) < 1e-12 && abs(s.speedUp - 8) < 1e-12)
    #expect(s.bestByProxy == "a@0" && s.bestByReal == "a@0")
    let csv = studyCSV(rows).split(separator: "\n")
    #expect(csv.count == 5)
    #expect(csv[0] == "genome,proxy_accuracy,real_accuracy,proxy_seconds,real_seconds,proxy_rank,real_rank,parameters")
    #expect(csv[2] == "b@0,0.8000,0.6000,2.000,8.000,2,3,100")
    let svg = scatterPlotSVG(rows)
    #expect(svg.hasPrefix("<svg") && svg.contains("GTN proxy validation accuracy (%)") && svg.contains("real-training validation accuracy (%)"))
    #expect(svg.components(separatedBy: "fill=\"#e8710a\"").count - 1 == 2)  // the proxy's top point and its legend entry
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nas-study-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try writeStudy(rows, settings: [("seed", "0")], to: dir)
    let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
    #expect(html.contains("<svg") && html.contains("Spearman"))
    // Readable offline: no scripts, and the only URL is the SVG namespace.
    #expect(!html.contains("<script") && html.components(separatedBy: "http").count == 2)
    #expect(FileManager.default.fileExists(atPath: dir + "/results.csv") && FileManager.default.fileExists(atPath: dir + "/summary.json"))
    #expect(niceTicks(61.3, 78.2) == [65, 70, 75])
}

/// The real-data baseline proxy gets the proxy's figures, its CSV columns and its printed line, and
/// only when every architecture has one.
@Test func studySummaryScoresTheBaselineProxy() {
    func withBaseline(_ r: StudyRow, _ b: Double) -> StudyRow {
        var r = r
        r.baseline = Evaluation(genome: r.genome, accuracy: b, seconds: 2)
        return r
    }
    let plain = [row("a@0", 0.9, 0.8), row("b@0", 0.8, 0.6), row("c@0", 0.7, 0.7), row("d@0", 0.6, 0.5)]
    // Baseline order c > a > b > d against real a > c > b > d: rho = 0.8; its top half c, a: rho -1.
    let rows = zip(plain, [0.7, 0.5, 0.9, 0.1]).map { withBaseline($0, $1) }
    let s = StudySummary(rows: rows)
    #expect(abs(s.baselineSpearman! - 0.8) < 1e-12 && s.baselineSpearmanTopHalf == -1)
    #expect(s.baselineTopOverlap == 0 && s.baselineSeconds == 2)
    #expect(abs(s.spearman! - 0.8) < 1e-12, "the GTN proxy's figures are unchanged")
    #expect(s.lines.last!.hasPrefix("baseline, real data") && s.lines.last!.contains("0 of its top 1"))
    let csv = studyCSV(rows).split(separator: "\n")
    #expect(csv[0].hasSuffix(",parameters,baseline_accuracy,baseline_seconds") && csv[1].hasSuffix(",100,0.7000,2.000"))
    // One architecture without it: no baseline figures, and the plain columns.
    let partial = StudySummary(rows: Array(rows.dropLast()) + [plain[3]])
    #expect(partial.baselineSpearman == nil && partial.baselineTopOverlap == nil)
    #expect(!partial.lines.last!.hasPrefix("baseline"))
    #expect(studyCSV(Array(rows.dropLast()) + [plain[3]]).hasPrefix("genome,proxy_accuracy,real_accuracy,proxy_seconds,real_seconds,proxy_rank,real_rank,parameters\n"))
}

@Test func cacheHitsDoNotReEvaluate() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("nas-cache-\(UUID().uuidString).jsonl").path
    defer { try? FileManager.default.removeItem(atPath: file) }
    var calls = 0
    let arch = CellSearchSpace(nodes: 1).cellNetwork(for: CellGenome("conv3x3@0+identity@0")!)
    let e1 = CachedEvaluator(name: "toy", cache: try EvaluationCache(signature: "toy v1", path: file)) { _ in calls += 1; return 0.5 }
    let a = try e1.evaluate(genome: "g1", architecture: arch)
    let b = try e1.evaluate(genome: "g1", architecture: arch)
    _ = try e1.evaluate(genome: "g2", architecture: arch)
    #expect(calls == 2 && e1.evaluationsRun == 2 && a == b && a.accuracy == 0.5)
    // A damaged last line (a run killed mid-write) is skipped.
    let handle = try #require(FileHandle(forWritingAtPath: file))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"signature\":\"toy v1\",\"evalu".utf8))
    try handle.close()
    // A new process with the same settings resumes from the file ...
    let e2 = CachedEvaluator(name: "toy", cache: try EvaluationCache(signature: "toy v1", path: file)) { _ in calls += 1; return 0.9 }
    #expect(e2.cache.count == 2)
    #expect(try e2.evaluate(genome: "g1", architecture: arch).accuracy == 0.5)
    #expect(calls == 2 && e2.evaluationsRun == 0)
    // ... and a record written after the torn line is not lost with it.
    _ = try e2.evaluate(genome: "g3", architecture: arch)
    #expect(try EvaluationCache(signature: "toy v1", path: file)["g3"]?.accuracy == 0.9)
    // ... but other settings do not reuse its results.
    let e3 = CachedEvaluator(name: "toy", cache: try EvaluationCache(signature: "toy v2", path: file)) { _ in calls += 1; return 0.9 }
    #expect(try e3.evaluate(genome: "g1", architecture: arch).accuracy == 0.9)
    #expect(calls == 4)
}

@Test func evolutionBeatsRandomSearchOnAToyFitness() {
    let space = CellSearchSpace(nodes: 4)
    let fitness = { (g: CellGenome) in Double(g.count(of: .conv3x3)) }
    var evolved = 0.0, random = 0.0, evolvedBest = 0.0, randomBest = 0.0
    for seed in 0..<4 as Range<UInt64> {
        var r1 = RandomSource(seed: seed), r2 = RandomSource(seed: seed)
        let e = Search.regularizedEvolution(space, population: 20, sample: 5, budget: 200, rng: &r1, fitness: fitness)
        let r = Search.random(space, budget: 200, rng: &r2, fitness: fitness)
        #expect(e.count == 200 && r.count == 200)
        evolved += e.suffix(50).map(\.fitness).reduce(0, +) / 50
        random += r.suffix(50).map(\.fitness).reduce(0, +) / 50
        evolvedBest += e.map(\.fitness).max()!
        randomBest += r.map(\.fitness).max()!
    }
    #expect(evolved > random + 8)  // summed over 4 seeds: at least 2 more conv3x3 edges on average
    #expect(evolvedBest > randomBest)
    // best(k:) returns distinct genomes, fittest first.
    var rng = RandomSource(seed: 1)
    let h = Search.regularizedEvolution(space, population: 5, sample: 3, budget: 60, rng: &rng, fitness: fitness)
    let top = Search.best(h, k: 5)
    #expect(top.count == 5 && Set(top.map(\.genome)).count == 5)
    #expect(zip(top, top.dropFirst()).allSatisfy { $0.fitness >= $1.fitness })
    #expect(top[0].fitness == h.map(\.fitness).max())
}

/// A tiny GTN and tiny data: both evaluators run end to end and their caches work.
@Test func evaluatorsRunOnATinyTeacher() throws {
    var config = GTNConfig()
    let image = ImageShape(channels: 1, height: 8, width: 8)
    config.generator = GeneratorConfig(noise: 4, classes: 3, image: image, hidden: 8, channels: 4)
    config.learner = LearnerConfig(kind: .base, image: image, classes: 3, conv1: 2, conv2: 2)
    (config.innerSteps, config.batchSize, config.metaBatchSize) = (2, 6, 6)
    let trainer = MetaTrainer(config: config)
    var rng = RandomSource(seed: 4)
    let data = Dataset(name: "toy", images: .randomNormal([12, 1, 8, 8], using: &rng), labels: (0..<12).map { $0 % 3 },
                       classes: 3, normalization: .mnist)
    let space = CellSearchSpace(nodes: 2, image: image, classes: 3, channels: 2)
    let proxy = try GTNProxyEvaluator(trainer: trainer, checkpointID: "toy", validation: data,
                                      settings: .init(steps: 3, learners: 2))
    let real = try RealDataEvaluator(train: data, validation: data, settings: .init(steps: 2, batchSize: 4, learningRate: 0.01))
    let g = space.sample(&rng)
    let p = try proxy.evaluate(g, in: space), r = try real.evaluate(g, in: space)
    for e in [p, r] { #expect(e.genome == g.description && (0...1).contains(e.accuracy) && e.seconds > 0) }
    // Deterministic: a fresh evaluator with the same settings scores the same.
    let again = try GTNProxyEvaluator(trainer: trainer, checkpointID: "toy", validation: data, settings: .init(steps: 3, learners: 2))
    #expect(try again.evaluate(g, in: space).accuracy == p.accuracy)
    _ = try proxy.evaluate(g, in: space)
    #expect(proxy.evaluationsRun == 1 && real.evaluationsRun == 1)
    #expect(real.settings.schedule.count == 2 && real.settings.schedule[0] == 0.01 && real.settings.schedule[1] < 0.01)
}

/// The truth over seeds: the mean of the seeds' own trainings, their seconds summed; each seed's
/// result is cached under its own signature, so a later study with the same seeds trains nothing
/// and one with a seed more trains only that seed.
@Test func meanOverSeedsAveragesCachedTrainings() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("nas-seeds-\(UUID().uuidString).jsonl").path
    defer { try? FileManager.default.removeItem(atPath: file) }
    let image = ImageShape(channels: 1, height: 8, width: 8)
    var rng = RandomSource(seed: 4)
    let data = Dataset(name: "toy", images: .randomNormal([24, 1, 8, 8], using: &rng), labels: (0..<24).map { $0 % 3 },
                       classes: 3, normalization: .mnist)
    let space = CellSearchSpace(nodes: 2, image: image, classes: 3, channels: 2)
    func training(_ seed: UInt64, cache: String?) throws -> RealDataEvaluator {
        try RealDataEvaluator(train: data, validation: data,
                              settings: .init(steps: 3, batchSize: 6, learningRate: 0.1, seed: seed), cachePath: cache)
    }
    let g = space.sample(&rng)
    let alone = try [0, 1].map { try training($0, cache: nil).evaluate(g, in: space) }
    #expect(alone[0].accuracy != alone[1].accuracy)  // the seeds differ, or the mean would test nothing
    let two = try MeanOverSeedsEvaluator([training(0, cache: file), training(1, cache: file)])
    let e = try two.evaluate(g, in: space)
    #expect(e.accuracy == (alone[0].accuracy + alone[1].accuracy) / 2)
    #expect(two.evaluationsRun == 2 && abs(e.seconds - (two.members[0].cache[e.genome]!.seconds + two.members[1].cache[e.genome]!.seconds)) < 1e-12)
    let again = try MeanOverSeedsEvaluator([training(0, cache: file), training(1, cache: file)])
    #expect(again.cache.count == 1)
    #expect(try again.evaluate(g, in: space) == e)
    #expect(again.evaluationsRun == 0)
    let three = try MeanOverSeedsEvaluator([training(0, cache: file), training(1, cache: file), training(2, cache: file)])
    #expect(three.cache.count == 0)
    _ = try three.evaluate(g, in: space)
    #expect(three.evaluationsRun == 1 && three.members[2].evaluationsRun == 1)
}
