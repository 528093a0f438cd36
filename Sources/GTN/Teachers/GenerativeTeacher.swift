import GTNAutodiff
import GTNNN
import GTNTensor

/// The GTN (paper §2): a generator of (noise, label) -> image, whose weights and curriculum of
/// noise are meta-learned. Each step's noise is either fresh (curriculum `none`) or rows of the
/// learned curriculum tensor, in an order the curriculum kind fixes per episode.
struct GenerativeTeacher: Teacher {
    func initialParameters(_ config: GTNConfig, _ rng: inout RandomSource) -> (
        parameters: ParameterList<Float>, curriculum: Tensor<Float>?
    ) {
        let generator: ParameterList<Float> = config.generator.initialParameters(&rng)
        let shape = config.curriculum.parameterShape(
            steps: config.innerSteps, batch: config.batchSize, noise: config.generator.noise)
        return (generator, config.curriculum.isLearned ? .randomNormal(shape, using: &rng) : nil)
    }

    func prepared(_ raw: ParameterList<Float>, _ config: GTNConfig) -> ParameterList<Float> {
        config.generator.prepare(raw)
    }

    func drawEpisode(
        _ e: inout MetaTrainer.Episode, _ config: GTNConfig, seed: UInt64, steps: Int,
        batchMultiplier k: Int, realData: RealBatchSource?, rng: inout RandomSource
    ) {
        let (t, b) = (config.innerSteps, config.batchSize)
        e.noiseRows = config.curriculum.rows(steps: t, batch: b, rng: &rng)
        if !config.curriculum.isLearned {
            e.freshNoise = (0..<steps).map { _ in .randomNormal([k * b, config.generator.noise], using: &rng) }
        } else if k > 1 {
            // Bigger batches than meta-trained for: the learned rows plus fresh ones (paper Fig. 5).
            var extra = RandomSource(seed: seed ^ 0xB16)
            e.extraNoise = (0..<steps).map { _ in .randomNormal([(k - 1) * b, config.generator.noise], using: &extra) }
        }
    }

    func batch(
        step t: Int, _ teacher: MetaTrainer.TeacherVariables, _ episode: MetaTrainer.Episode,
        _ config: GTNConfig
    ) -> (images: Variable<Float>, targets: Variable<Float>) {
        config.generator.generateWithTargets(
            prepared: teacher.generator, noise: noise(step: t, teacher.curriculum, episode, config),
            labels: labels(step: t, teacher.labels, episode, config))
    }

    /// The labels of inner step `t`: the curriculum's evenly distributed ones, or with learned
    /// labels those of the step's curriculum rows (the extra rows of a bigger batch keep theirs).
    func labels(step t: Int, _ learned: Variable<Float>?, _ episode: MetaTrainer.Episode, _ config: GTNConfig)
        -> Variable<Float>
    {
        guard let learned else { return Variable(episode.labels) }
        let rows = episode.noiseRows![t % config.innerSteps]
        let own = self.rows(rows, of: learned)
        guard episode.extraNoise != nil else { return own }
        let b = rows.count
        return concat([own, Variable(episode.labels).slice(axis: 0, b..<episode.labels.shape[0])], axis: 0)
    }

    /// The noise of inner step `t`.
    func noise(step t: Int, _ curriculum: Variable<Float>?, _ episode: MetaTrainer.Episode, _ config: GTNConfig)
        -> Variable<Float>
    {
        if let fresh = episode.freshNoise { return Variable(fresh[t]) }
        let learned = learnedNoise(step: t % config.innerSteps, curriculum!, episode, config)
        guard let extra = episode.extraNoise else { return learned }
        return concat([learned, Variable(extra[t])], axis: 0)
    }

    func learnedNoise(step t: Int, _ curriculum: Variable<Float>, _ episode: MetaTrainer.Episode, _ config: GTNConfig)
        -> Variable<Float>
    {
        rows(episode.noiseRows![t], of: curriculum.reshaped([-1, config.generator.noise]))
    }

    /// Rows `rows` of a [rows, width] pool, as one slice when they are consecutive.
    func rows(_ rows: [Int], of pool: Variable<Float>) -> Variable<Float> {
        let contiguous = rows.last! - rows.first! + 1 == rows.count && rows == Array(rows.first!...rows.last!)
        if contiguous { return pool.slice(axis: 0, rows.first!..<rows.last! + 1) }
        let n = pool.shape[1]
        var idx = [Int32]()
        idx.reserveCapacity(rows.count * n)
        for r in rows { for k in 0..<n { idx.append(Int32(r * n + k)) } }
        return pool.gathered(GatherMap(sourceShape: pool.shape, outputShape: [rows.count, n], indices: idx))
    }
}
