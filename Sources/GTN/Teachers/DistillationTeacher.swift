import GTNAutodiff
import GTNNN
import GTNTensor

/// Dataset distillation (Wang et al. 2018): the T x B training images are themselves the
/// meta-learned parameters, x = 2 tanh(p), with evenly distributed labels.
struct DistillationTeacher: Teacher {
    func initialParameters(_ config: GTNConfig, _ rng: inout RandomSource) -> (
        parameters: ParameterList<Float>, curriculum: Tensor<Float>?
    ) {
        let shape = [config.innerSteps, config.batchSize] + config.learner.image.dims
        return (ParameterList(specs: [ParameterSpec("distilled.images", shape, .normal(std: 1))], rng: &rng), nil)
    }

    func batch(
        step t: Int, _ teacher: MetaTrainer.TeacherVariables, _ episode: MetaTrainer.Episode,
        _ config: GTNConfig
    ) -> (images: Variable<Float>, targets: Variable<Float>) {
        precondition(
            episode.labels.shape[0] == config.batchSize,
            "dataset distillation has exactly \(config.batchSize) images per step; it cannot make bigger batches")
        let pixels = teacher.generator.values[0]
        let step = t % config.innerSteps
        let images = pixels.slice(axis: 0, step..<step + 1).reshaped([config.batchSize] + config.learner.image.dims)
        return (images.tanh() * 2, Variable(episode.labels))
    }
}
