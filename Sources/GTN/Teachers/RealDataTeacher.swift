import GTNAutodiff
import GTNNN
import GTNTensor

/// The control (paper Fig. 2a): the learner trains on real batches; only the inner learning
/// rates and momenta are meta-learned.
struct RealDataTeacher: Teacher {
    func initialParameters(_ config: GTNConfig, _ rng: inout RandomSource) -> (
        parameters: ParameterList<Float>, curriculum: Tensor<Float>?
    ) {
        (ParameterList(specs: [], values: []), nil)
    }

    func drawEpisode(
        _ e: inout MetaTrainer.Episode, _ config: GTNConfig, seed: UInt64, steps: Int,
        batchMultiplier k: Int, realData: RealBatchSource?, rng: inout RandomSource
    ) {
        guard steps > 0 else { return }
        guard let realData else { preconditionFailure("the real-data teacher needs real batches") }
        // A stream of its own: the other teachers' draws stay as they were.
        var r = RandomSource(seed: seed ^ 0x7EAC)
        let classes = config.learner.classes
        e.realTraining = (0..<steps).map { _ in
            let batch = realData(k * config.batchSize, &r)
            return (batch.images, oneHot(batch.labels, classes: classes))
        }
    }

    func batch(
        step t: Int, _ teacher: MetaTrainer.TeacherVariables, _ episode: MetaTrainer.Episode,
        _ config: GTNConfig
    ) -> (images: Variable<Float>, targets: Variable<Float>) {
        let b = episode.realTraining[t]
        return (Variable(b.images), Variable(b.targets))
    }
}
