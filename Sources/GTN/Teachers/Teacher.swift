import GTNAutodiff
import GTNNN
import GTNTensor

/// Where the learner's batch of inner step t comes from, and what of it is meta-learned besides
/// the inner schedule (learning rates and momenta, which every teacher learns): the generator's
/// weights and a curriculum of noise (GTN), the pixels (dataset distillation), nothing (the
/// real-data control). The meta-trainer only asks these questions, so a new teacher (a generator
/// with a GAN loss, one that makes RL states) is a new conforming type and a `TeacherKind` case.
protocol Teacher: Sendable {
    /// A fresh teacher's meta-learned parameters, drawn from `rng` (the run's seed), and its
    /// learned curriculum if it has one.
    func initialParameters(_ config: GTNConfig, _ rng: inout RandomSource) -> (
        parameters: ParameterList<Float>, curriculum: Tensor<Float>?
    )

    /// The parameters ready to make batches, once per use (the GTN folds weight norm in).
    func prepared(_ raw: ParameterList<Float>, _ config: GTNConfig) -> ParameterList<Float>

    /// The teacher's own random draws of an episode (noise, real batches), made after the
    /// learner's from the episode's stream `rng` (or streams of its own, derived from `seed`).
    func drawEpisode(
        _ episode: inout MetaTrainer.Episode, _ config: GTNConfig, seed: UInt64, steps: Int,
        batchMultiplier k: Int, realData: RealBatchSource?, rng: inout RandomSource)

    /// The batch (images, targets) the learner trains on at inner step `t`.
    func batch(
        step t: Int, _ teacher: MetaTrainer.TeacherVariables, _ episode: MetaTrainer.Episode,
        _ config: GTNConfig
    ) -> (images: Variable<Float>, targets: Variable<Float>)
}

extension Teacher {
    func prepared(_ raw: ParameterList<Float>, _ config: GTNConfig) -> ParameterList<Float> { raw }
    func drawEpisode(
        _ episode: inout MetaTrainer.Episode, _ config: GTNConfig, seed: UInt64, steps: Int,
        batchMultiplier k: Int, realData: RealBatchSource?, rng: inout RandomSource
    ) {}
}

extension TeacherKind {
    /// The teacher this kind names.
    var teacher: any Teacher {
        switch self {
        case .gtn, .gan: GenerativeTeacher()
        case .real: RealDataTeacher()
        case .distillation: DistillationTeacher()
        }
    }
}
