import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// Everything that defines a meta-training run (the official experiments/*.json, with names).
public struct GTNConfig: Sendable, Codable, Hashable {
    /// Where the learner's training data comes from: the generator (GTN), meta-learned pixels
    /// (dataset distillation), or real batches (the control). Every teacher meta-learns the
    /// per-step inner learning rates and momenta.
    public var teacher: TeacherKind = .gtn
    public var generator = GeneratorConfig()
    public var learner = LearnerConfig(kind: .baseFC, image: .mnist, classes: 10)
    public var randomLearnerWidths = false
    public var curriculum: CurriculumKind = .full
    /// Meta-learn the label of every curriculum row (official `meta_learn_labels`): a [T*B, classes]
    /// tensor, started at the one-hot class the row is asked for, that is both the conditional
    /// generator's label input and the learner's target for that row (unconstrained, as in the
    /// official code: a row's label can become soft, or weigh its example up or down).
    public var learnLabels = false
    public var innerSteps = 32
    public var batchSize = 128
    public var metaBatchSize = 128
    public var innerLearningRate = 0.02
    public var innerMomentum = 0.5
    public var metaLearningRate = 0.02
    public var metaBeta1 = 0.9, metaBeta2 = 0.999, metaEpsilon = 1e-8
    /// Cosine annealing ends at this fraction of the meta learning rate.
    public var metaLearningRateFinalFraction = 0.1
    public var metaIterations = 2000
    public var gradientClip: Double? = nil
    /// Inner steps per checkpointed block (0: keep the whole unrolled graph).
    public var checkpointBlock = 4
    /// Megabytes of costly results (convolutions, matrix products) that checkpointed blocks keep
    /// from their first run for their replay, per learner and meta-iteration, instead of
    /// computing them again (weight-sized results, the convolutions' weight adjoints, are kept
    /// whatever the budget). Only time and peak memory change: T = 32 at B = 128 replays 28
    /// steps of ~36 MB each. Since the fused batch norm and optimiser steps (2026-12-03) a step's
    /// graph is smaller, so 512 MB fits: T = 32 peaks at 2.28 GB (2.00 GB with 256) and runs 11%
    /// faster (14.90 vs 16.81 s; docs/NOTES.md). Since the generator's last layer runs from its
    /// small input (2026-12-07 evening), 1024 MB holds nearly every kept product of a T = 32
    /// meta-iteration at 2.18 GB peak, 3.5% faster than 512 (one thread, median of two).
    public var replayCacheMegabytes = 1024
    /// The learner's optimiser in the inner loop; its learning rate and momentum (Adam's beta1,
    /// RMSProp's averaging coefficient) are meta-learned per step in every case.
    public var innerOptimizer: InnerOptimizer = .sgd
    /// Intermediate losses (official `use_intermediate_losses`): with k > 0, the learner is also
    /// scored on a fresh real batch before every inner step t >= k with t % k == 0, and those
    /// losses are added to the meta-loss. 0 scores only the final learner.
    public var intermediateLossEvery = 0
    /// How many times the final learner's real-data loss counts in the meta-loss next to the
    /// intermediate losses (1: as one of them, the official weighting). With intermediate losses
    /// at every step the final one is then 1/T of the objective, which rewards a teacher for
    /// early progress as much as for where the learner ends; T - 1 makes it half.
    public var finalLossWeight = 1.0
    /// Fresh learners per meta-iteration; their meta-gradients are averaged (the official
    /// `virtual_batch_size`, and what its Horovod workers do across machines).
    public var learnersPerIteration = 1
    /// The discriminator and the weight of the auxiliary GAN loss (paper Figs. 9, 10).
    public var gan = GANConfig()
    public var seed: UInt64 = 0

    public init() {}
}

/// The teachers the paper compares (Fig. 2a).
public enum TeacherKind: String, Sendable, Codable, CaseIterable {
    /// A generator of (noise, label) -> image, with a learned curriculum of noise.
    case gtn
    /// The control: the learner trains on real batches; only the inner learning rates and
    /// momenta are meta-learned.
    case real
    /// Dataset distillation (Wang et al. 2018): the T x B training images are themselves the
    /// meta-learned parameters, x = 2 tanh(p), with evenly distributed labels.
    case distillation
    /// A plain conditional GAN (paper Fig. 9) with the GTN's generator: adversarial Adam steps,
    /// no meta-gradient; its samples (fresh noise) can teach learners like any teacher's.
    case gan
}
