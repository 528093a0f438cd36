import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// A source of real batches (images normalised, labels as class indices).
public typealias RealBatchSource = (_ size: Int, _ rng: inout RandomSource) -> (images: Tensor<Float>, labels: [Int])

/// Meta-trains a generative teaching network (paper §2, official `gtn.py`).
public struct MetaTrainer {
    /// Settable inside the module only, for what a resumed run may change (`TrainingSession.resumeChanges`).
    public internal(set) var config: GTNConfig
    public var state: TeacherState
    /// Specs of `state.generator` (see `TeacherState`).
    let generatorSpecs: [ParameterSpec]
    /// Draws each episode's learner architecture instead of `config.learner` (GTN-NAS meta-trains
    /// on random architectures of its search space, so that its data teaches the space rather than
    /// one network). It is given the episode's random source and the meta-iteration the episode
    /// belongs to (so that a schedule, e.g. one architecture before many, can depend on it). The
    /// architectures must take `config.learner`'s images and classes. A closure is not part of the
    /// saved configuration: set it again after loading a checkpoint.
    public var learnerSampler: (@Sendable (_ rng: inout RandomSource, _ metaIteration: Int) -> any LearnerArchitecture)?
    /// The other workers of a distributed run (MPI), or nil: see `Collective`. Not saved.
    public var collective: (any Collective)?

    public init(config: GTNConfig) {
        self.config = config
        var rng = RandomSource(seed: config.seed)
        let t = config.innerSteps
        let (gen, curriculum) = config.teacher.teacher.initialParameters(config, &rng)
        generatorSpecs = gen.specs
        state = TeacherState(
            generator: gen.values.map(\.value), curriculum: curriculum,
            labels: config.learnLabels ? Self.initialLabels(config) : nil,
            logLearningRates: Tensor(repeating: Float(Foundation.log(config.innerLearningRate)), shape: [t]),
            logMomenta: Tensor(repeating: Float(Foundation.log(config.innerMomentum)), shape: [t]),
            optimizer: Self.outerOptimizer(config))
        state.discriminator = Self.initialDiscriminator(config)
        state.discriminatorOptimizer = Adam(
            learningRate: config.gan.learningRate, beta1: config.gan.beta1, beta2: config.gan.beta2)
    }

    /// Learned labels start as the one-hot class each curriculum row is asked for: row r of the
    /// flattened [T*B] pool sits at position r mod B of its batch, whose class is that position's
    /// curriculum label, so at the start the teacher computes exactly what it would without them.
    static func initialLabels(_ config: GTNConfig) -> Tensor<Float> {
        let (t, b, k) = (config.innerSteps, config.batchSize, config.learner.classes)
        let perBatch = curriculumLabels(batch: b, classes: k)
        return oneHot((0..<(t * b)).map { perBatch[$0 % b] }, classes: k)
    }

    /// The teacher's optimiser: Adam with the meta settings, or DCGAN's for the plain GAN's generator.
    static func outerOptimizer(
        _ config: GTNConfig, step: Int = 0, first: [Tensor<Float>] = [], second: [Tensor<Float>] = []
    )
        -> Adam<Float>
    {
        let gan = config.teacher == .gan
        return Adam(
            learningRate: gan ? config.gan.learningRate : config.metaLearningRate,
            beta1: gan ? config.gan.beta1 : config.metaBeta1, beta2: gan ? config.gan.beta2 : config.metaBeta2,
            epsilon: config.metaEpsilon, step: step, firstMoments: first, secondMoments: second)
    }

    /// The random choices of one meta-iteration (learner init, noise draws, real batches), all
    /// from one seed so a checkpointed block replays exactly what its forward pass did.
    struct Episode {
        var learner: any LearnerArchitecture
        var learnerInit: [Tensor<Float>]
        var labels: Tensor<Float>
        /// The GTN's curriculum order of noise rows by step, or its fresh noise by step.
        var noiseRows: [[Int]]?
        var freshNoise: [Tensor<Float>]?
        /// Fresh noise rows appended to the learned ones when evaluating with bigger batches.
        var extraNoise: [Tensor<Float>]?
        /// The real-data teacher's training batches, by inner step.
        var realTraining: [(images: Tensor<Float>, targets: Tensor<Float>)] = []
        /// Real batches (images, one-hot targets) for the intermediate losses, by inner step.
        var realBatches: [Int: (images: Tensor<Float>, targets: Tensor<Float>)] = [:]
    }

    /// The episode drawn from `seed`. Meta-training uses T steps of batch B; evaluation may ask
    /// for more steps (the learned curriculum and schedule then repeat, step t using those of
    /// t mod T) and bigger batches (the learned noise plus fresh noise rows) (paper Fig. 5).
    /// The real-data teacher needs `realData`. `iteration` is the meta-iteration the episode
    /// belongs to (default: the current one), for `learnerSampler`.
    func episode(
        seed: UInt64, iteration: Int? = nil, steps: Int? = nil, batchMultiplier k: Int = 1,
        realData: RealBatchSource? = nil
    ) -> Episode {
        var rng = RandomSource(seed: seed)
        let learner: any LearnerArchitecture =
            learnerSampler.map { $0(&rng, iteration ?? state.iteration) }
            ?? (config.randomLearnerWidths ? config.learner.withRandomWidths(&rng) : config.learner)
        let initial: ParameterList<Float> = learner.initialParameters(&rng)
        let steps = steps ?? config.innerSteps
        let classes = config.learner.classes
        var e = Episode(
            learner: learner, learnerInit: initial.values.map(\.value),
            labels: oneHot(curriculumLabels(batch: k * config.batchSize, classes: classes), classes: classes))
        config.teacher.teacher.drawEpisode(
            &e, config, seed: seed, steps: steps, batchMultiplier: k, realData: realData, rng: &rng)
        return e
    }

    /// The batch (images, targets) the learner trains on at inner step `t`.
    func trainingBatch(step t: Int, teacher: TeacherVariables, episode: Episode) -> (
        images: Variable<Float>, targets: Variable<Float>
    ) {
        config.teacher.teacher.batch(step: t, teacher, episode, config)
    }

    /// The learner's state during the inner loop: weights, momentum buffers, and the batch means
    /// of the last training forward pass (what its mean-only batch norms use at evaluation).
    struct LearnerState {
        var weights: [Variable<Float>]
        var velocity: [Variable<Float>]
        /// Running mean of squared gradients (Adam, RMSProp; empty for SGD).
        var second: [Variable<Float>] = []
        var means: [Variable<Float>]
        /// Sum of the intermediate losses so far (shape [1]).
        var intermediateLoss = Variable(Tensor<Float>.zeros([1]))
        var flat: [Variable<Float>] { weights + velocity + second + [intermediateLoss] + means }
        var counts: (Int, Int, Int) { (weights.count, velocity.count, second.count) }
        init(
            weights: [Variable<Float>], velocity: [Variable<Float>], second: [Variable<Float>] = [],
            means: [Variable<Float>]
        ) {
            (self.weights, self.velocity, self.second, self.means) = (weights, velocity, second, means)
        }
        init(flat: [Variable<Float>], counts: (Int, Int, Int)) {
            var i = 0
            func take(_ n: Int) -> [Variable<Float>] {
                defer { i += n }
                return Array(flat[i..<i + n])
            }
            weights = take(counts.0)
            velocity = take(counts.1)
            second = take(counts.2)
            intermediateLoss = take(1)[0]
            means = Array(flat[i...])
        }
    }

    /// The teacher's parameters as variables, split by role. `generator` holds parameters
    /// prepared for `GeneratorConfig.generate(prepared:)` (weight norm folded in).
    struct TeacherVariables {
        var generator: ParameterList<Float>
        var curriculum: Variable<Float>?
        var labels: Variable<Float>?
        var logLR: Variable<Float>
        var logMomentum: Variable<Float>
        var flat: [Variable<Float>] {
            TeacherRoles(
                generator: generator.values, curriculum: curriculum, labels: labels, logLearningRates: logLR,
                logMomenta: logMomentum
            ).flat
        }

        /// Rebuilds the roles from `flat` (generator specs from `like`).
        init(flat m: [Variable<Float>], like other: TeacherVariables) {
            let r = TeacherRoles(
                flat: m, generatorCount: other.generator.specs.count, curriculum: other.curriculum != nil,
                labels: other.labels != nil)
            generator = ParameterList(specs: other.generator.specs, values: r.generator)
            (curriculum, labels, logLR, logMomentum) = (r.curriculum, r.labels, r.logLearningRates, r.logMomenta)
        }

        init(
            generator: ParameterList<Float>, curriculum: Variable<Float>?, labels: Variable<Float>?,
            logLR: Variable<Float>, logMomentum: Variable<Float>
        ) {
            (self.generator, self.curriculum, self.labels, self.logLR, self.logMomentum) = (
                generator, curriculum, labels, logLR, logMomentum
            )
        }
    }

    /// Splits `state.parameters`-ordered variables by role, preparing the generator's weights once.
    func teacherVariables(_ m: [Variable<Float>]) -> TeacherVariables {
        let r = TeacherRoles(
            flat: m, generatorCount: generatorSpecs.count, curriculum: state.curriculum != nil,
            labels: state.labels != nil)
        let raw = ParameterList(specs: generatorSpecs, values: r.generator)
        return TeacherVariables(
            generator: config.teacher.teacher.prepared(raw, config), curriculum: r.curriculum, labels: r.labels,
            logLR: r.logLearningRates, logMomentum: r.logMomenta)
    }

    /// One inner step: the generator makes batch t, the learner takes an SGD-with-momentum step on
    /// it (gradients kept differentiable), with step t's learned learning rate and momentum.
    func innerStep(_ t: Int, teacher: TeacherVariables, episode: Episode, learner s: LearnerState) -> LearnerState {
        var scored = s.intermediateLoss
        if let real = episode.realBatches[t] {
            // Scored as evaluated: batch norms use the previous inner step's means.
            var stored = Layers.BatchMeans(values: s.means)
            let logProbs = episode.learner.logProbabilities(
                ParameterList(specs: episode.learner.specs, values: s.weights),
                Variable(real.images), means: &stored)
            scored = scored + crossEntropy(logProbs: logProbs, targets: Variable(real.targets))
        }
        let (x, y) = trainingBatch(step: t, teacher: teacher, episode: episode)
        let params = ParameterList(specs: episode.learner.specs, values: s.weights)
        var means = Layers.BatchMeans<Float>.collect
        let loss = crossEntropy(logProbs: episode.learner.logProbabilities(params, x, means: &means), targets: y)
        let grads = gradients(of: loss, wrt: s.weights, createGraph: true)
        let lr = teacher.logLR.slice(axis: 0, t..<t + 1).exp()
        let momentum = teacher.logMomentum.slice(axis: 0, t..<t + 1).exp()
        let (w, v, sq) = config.innerOptimizer.step(
            t, weights: s.weights, velocity: s.velocity, second: s.second,
            gradients: grads, learningRate: lr, momentum: momentum)
        var next = LearnerState(weights: w, velocity: v, second: sq, means: means.values)
        next.intermediateLoss = scored
        return next
    }

    /// Trains a fresh learner of the episode for all T inner steps and returns its final state.
    /// `meta` are the teacher's parameters as variables (in `TeacherState.parameters` order).
    /// Blocks of `checkpointBlock` steps are checkpointed: only the learner state between blocks is
    /// kept, and each block but the last is replayed during the meta-backward pass.
    func unroll(_ meta: [Variable<Float>], episode: Episode) -> LearnerState {
        // Weight normalisation of the generator happens once here, not at every inner step.
        let teacher = teacherVariables(meta)
        let w = episode.learnerInit.map { Variable($0, requiresGrad: true) }
        let zeros = w.map { Variable(Tensor<Float>.zeros($0.shape)) }
        var s = LearnerState(
            weights: w, velocity: zeros, second: config.innerOptimizer.usesSecondMoment ? zeros : [], means: [])
        let steps = config.innerSteps
        let block = config.checkpointBlock
        var t = 0
        while t < steps {
            let end = block > 0 ? min(steps, t + block) : steps
            let range = t..<end
            // The last block is not checkpointed: the meta-backward pass starts there, so a
            // replay would rebuild at once the very graph that checkpointing freed. Keeping it
            // costs no extra peak memory and saves one block's forward.
            if block > 0 && end < steps {
                let teacherInputs = teacher.flat
                let (nm, counts) = (teacherInputs.count, s.counts)
                // The whole learner state goes in, batch means included: an intermediate loss at
                // the block's first step evaluates with the previous block's last means.
                let out = checkpointed(teacherInputs + s.flat) { ins in
                    let tv = TeacherVariables(flat: Array(ins[0..<nm]), like: teacher)
                    var inner = LearnerState(flat: Array(ins[nm...]), counts: counts)
                    for step in range { inner = innerStep(step, teacher: tv, episode: episode, learner: inner) }
                    return inner.flat
                }
                s = LearnerState(flat: out, counts: counts)
            } else {
                for step in range { s = innerStep(step, teacher: teacher, episode: episode, learner: s) }
            }
            t = end
        }
        return s
    }

    /// The meta-loss of the current teacher on one episode and real batch (the final learner's;
    /// intermediate losses, when on, are added to what is differentiated), its accuracy, and the
    /// meta-gradient with respect to `state.parameters`.
    /// `learner` (0 ..< learnersPerIteration) picks one of the iteration's learners.
    public func metaGradient(iteration: Int, learner index: Int = 0, realBatch: RealBatchSource) -> (
        loss: Double, accuracy: Double, gradients: [Tensor<Float>]
    ) {
        let seed = episodeSeed(iteration: iteration, learner: index)
        var episode = withoutActuallyEscaping(realBatch) {
            self.episode(seed: seed, iteration: iteration, realData: $0)
        }
        var rng = RandomSource(seed: seed ^ 0xBA7C4)
        let k = config.intermediateLossEvery
        if k > 0 {
            for t in stride(from: k, to: config.innerSteps, by: k) {
                let b = realBatch(config.metaBatchSize, &rng)
                episode.realBatches[t] = (b.images, oneHot(b.labels, classes: config.learner.classes))
            }
        }
        let meta = state.parameters.map { Variable($0, requiresGrad: true) }
        let budget = ReplayBudget(bytes: config.replayCacheMegabytes << 20)
        let learner = ReplayBudget.$current.withValue(budget) { unroll(meta, episode: episode) }
        let real = realBatch(config.metaBatchSize, &rng)
        // Scored as it will be evaluated: batch norms use the last inner step's means.
        var means = Layers.BatchMeans(values: learner.means)
        let logProbs = episode.learner.logProbabilities(
            ParameterList(specs: episode.learner.specs, values: learner.weights),
            Variable(real.images), means: &means)
        let metaLoss = nllLoss(logProbs: logProbs, labels: real.labels)
        let correct = zip(logProbs.value.argmaxRows(), real.labels).filter { $0 == $1 }.count
        // Weight 1 adds no node, so the default keeps the graph (and the results) it had before the option.
        let weighted = config.finalLossWeight == 1 ? metaLoss : metaLoss * Float(config.finalLossWeight)
        let total = k > 0 ? weighted + learner.intermediateLoss.reshaped([]) : weighted
        return (
            Double(metaLoss.scalar), Double(correct) / Double(real.labels.count),
            gradients(of: total, wrt: meta).map(\.value)
        )
    }

    /// The seed of the episode of learner `index` at `iteration` (its init, noise and real batches).
    func episodeSeed(iteration: Int, learner index: Int = 0) -> UInt64 {
        config.seed &+ 0x9E37_79B9 &* UInt64(iteration + 1) &+ 0xD1B5_4A32_D192_ED03 &* UInt64(index)
    }

    /// One meta-iteration: unroll, score on a real batch, differentiate, update.
    public mutating func step(realBatch: RealBatchSource) -> MetaStepMetrics {
        // In a distributed run the leader tells the followers that another iteration comes.
        if let c = collective { precondition(c.rank == 0 && c.agree(true), "MetaTrainer.step: only the leader steps") }
        return stepAfterAgreement(realBatch: realBatch)
    }

    mutating func stepAfterAgreement(realBatch: RealBatchSource) -> MetaStepMetrics {
        if config.teacher == .gan { return ganStep(realBatch: realBatch) }
        let start = DispatchTime.now().uptimeNanoseconds
        let iteration = state.iteration
        let learners = localLearners
        var (loss, accuracy, grads) = metaGradient(
            iteration: iteration, learner: learners.lowerBound, realBatch: realBatch)
        for j in learners.dropFirst() {
            let more = metaGradient(iteration: iteration, learner: j, realBatch: realBatch)
            (loss, accuracy) = (loss + more.loss, accuracy + more.accuracy)
            grads = zip(grads, more.gradients).map { $0 + $1 }
        }
        if let c = collective, c.size > 1 {
            // One allreduce of all the meta-gradients as a flat buffer, one of the two statistics.
            var flat = grads.flatMap(\.scalars)
            c.allReduceSum(&flat)
            var offset = 0
            grads = grads.map { g in
                defer { offset += g.count }
                return Tensor(shape: g.shape, scalars: Array(flat[offset..<(offset + g.count)]))
            }
            var stats = [loss, accuracy]
            c.allReduceSum(&stats)
            (loss, accuracy) = (stats[0], stats[1])
        }
        if totalLearners > 1 {
            let n = Float(totalLearners)
            (loss, accuracy) = (loss / Double(n), accuracy / Double(n))
            grads = grads.map { $0 * (1 / n) }
        }
        var adversarial: (loss: Double, discriminator: DiscriminatorMetrics)?
        if config.gan.weight > 0 {
            // GTN + GAN: λ x the generator's adversarial loss on one inner-loop batch joins the
            // meta-loss's gradient; then the discriminator takes its step on that batch.
            let a = adversarialGradient(iteration: iteration)
            let lambda = Float(config.gan.weight)
            grads = zip(grads, a.gradients).map { $0 + $1 * lambda }
            var rng = RandomSource(seed: config.seed ^ 0xD15C &+ UInt64(iteration))
            let real = realBatch(a.images.shape[0], &rng)
            let dm = updateDiscriminator(
                real: (real.images, oneHot(real.labels, classes: config.generator.classes)),
                generated: (a.images, a.labels))
            adversarial = (a.loss, dm)
        }
        let norm =
            config.gradientClip.map { clipGradients(&grads, maxNorm: $0) }
            ?? grads.reduce(0.0) { acc, g in acc + g.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
        let lr = cosineAnnealed(
            base: config.metaLearningRate, step: iteration, total: config.metaIterations,
            finalFraction: config.metaLearningRateFinalFraction)
        var params = state.parameters
        state.optimizer.update(&params, grads: grads, lr: lr)
        state.setParameters(params)
        state.iteration += 1
        let mean = { (t: Tensor<Float>) in t.scalars.reduce(0.0) { $0 + Foundation.exp(Double($1)) } / Double(t.count) }
        return MetaStepMetrics(
            iteration: iteration, metaLoss: loss, metaAccuracy: accuracy,
            meanInnerLearningRate: mean(state.logLearningRates), meanInnerMomentum: mean(state.logMomenta),
            metaLearningRate: lr, gradientNorm: norm,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
            discriminatorLoss: adversarial?.discriminator.loss,
            discriminatorAccuracy: adversarial?.discriminator.accuracy,
            adversarialLoss: adversarial?.loss)
    }
}
