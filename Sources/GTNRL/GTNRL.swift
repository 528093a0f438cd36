import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// GTN for reinforcement learning (paper Fig. 8), as the paper's text is reported to describe it
/// (the official repository has no RL code): a generator (MLP with batch norm) maps fixed, learned
/// noise to a batch of synthetic states, each paired with a target action (half of the batch each
/// action, evenly); a freshly initialised policy takes one SGD step on them, fitting its action
/// probabilities to the targets (squared error); the trained policy then acts in the real
/// environment, and the meta-loss is the actor-critic loss of those rollouts, -mean log π(a|s)
/// (R - V(s)), differentiated through the inner step into the generator, its noise and the inner
/// learning rate. V is a separate critic fitted to the returns of all rollouts so far.
public struct GTNRLTeacher<E: Environment> {
    public struct Settings: Sendable {
        public var syntheticStates = 512
        public var noise = 32
        public var generatorHidden = 64
        public var policyHidden = [64, 64]
        /// Initial inner learning rate (meta-learned, log-parameterised).
        public var innerLearningRate = 0.1
        public var metaLearningRate = 1e-3
        public var criticLearningRate = 1e-3
        /// Environments rolled out per meta-iteration, each for up to `rolloutSteps` steps.
        public var rolloutEnvironments = 8
        public var rolloutSteps = 200
        public var gamma = 0.99
        public var seed: UInt64 = 0
        public init() {}
    }

    public let settings: Settings
    public let environment: E
    public let policyNet: MLP
    public let criticNet: MLP
    /// Generator weights, then the learned noise, then the log inner learning rate.
    public var teacher: [Tensor<Float>]
    public var critic: [Tensor<Float>]
    var metaOptimizer: Adam<Float>
    var criticOptimizer: Adam<Float>
    var rng: RandomSource
    public private(set) var iteration = 0
    /// Environment steps taken by all rollouts so far (counted as A2C counts them).
    public private(set) var environmentSteps = 0

    public init(_ env: E, settings: Settings = Settings()) {
        (self.settings, environment) = (settings, env)
        var rng = RandomSource(seed: settings.seed)
        policyNet = MLP(inputs: env.observationSize, hidden: settings.policyHidden, outputs: env.actionCount)
        criticNet = MLP(inputs: env.observationSize, hidden: [64, 64], outputs: 1)
        let generator = ParameterList<Float>(specs: Self.generatorSpecs(settings, env), rng: &rng).values.map(\.value)
        let noise = Tensor<Float>.randomNormal([settings.syntheticStates, settings.noise], using: &rng)
        teacher = generator + [noise, Tensor(shape: [1], scalars: [Float(Foundation.log(settings.innerLearningRate))])]
        critic = criticNet.initialParameters(&rng)
        metaOptimizer = Adam(learningRate: settings.metaLearningRate)
        criticOptimizer = Adam(learningRate: settings.criticLearningRate)
        self.rng = rng
    }

    public static func generatorSpecs(_ s: Settings, _ env: E) -> [ParameterSpec] {
        Layers.linearSpecs("fc1", inputs: s.noise, outputs: s.generatorHidden, bias: false, weightNorm: false)
            + Layers.batchNormSpecs("bn1", channels: s.generatorHidden, rank: 2)
            + Layers.linearSpecs(
                "fc2", inputs: s.generatorHidden, outputs: env.observationSize, bias: true, weightNorm: false)
    }

    /// The target actions of the synthetic states: row i asks for action i mod A, one-hot.
    public var targets: Tensor<Float> {
        oneHot((0..<settings.syntheticStates).map { $0 % environment.actionCount }, classes: environment.actionCount)
    }

    /// The synthetic states: generator(noise).
    public static func states<S>(_ generator: ParameterList<S>, noise: Variable<S>) -> Variable<S> {
        var p = ParameterReader(generator)
        let h = Layers.batchNorm(Layers.linear(noise, &p, "fc1", bias: false, weightNorm: false), &p, "bn1")
        return Layers.linear(h.leakyRelu(slope: 0.1), &p, "fc2", bias: true, weightNorm: false)
    }

    /// The inner step: a fresh policy's weights after one SGD step on the synthetic states with the
    /// squared error between its action probabilities and the targets. Differentiable in the
    /// teacher's variables (its graph is kept for the meta-gradient).
    public static func trainedPolicy<S>(
        _ teacher: [Variable<S>], policyInit: [Variable<S>], policyNet: MLP, generatorSpecs: [ParameterSpec],
        targets: Tensor<S>
    ) -> [Variable<S>] {
        let g = generatorSpecs.count
        let states = states(ParameterList(specs: generatorSpecs, values: Array(teacher[0..<g])), noise: teacher[g])
        let probabilities = policyNet(ParameterList(specs: policyNet.specs, values: policyInit), states)
            .logSoftmax().exp()
        let loss = (probabilities - Variable(targets)).squared().mean()
        let grads = gradients(of: loss, wrt: policyInit, createGraph: true)
        let lr = teacher[g + 1].exp()
        return zip(policyInit, grads).map { $0 - $1 * lr }
    }

    /// The actor-critic meta-loss of rollouts of the trained policy: -mean log π(a|s) A.
    public static func metaLoss<S>(
        _ trained: [Variable<S>], policyNet: MLP, observations: Tensor<S>, actions: [Int], advantages: Tensor<S>
    ) -> Variable<S> {
        let logits = policyNet(ParameterList(specs: policyNet.specs, values: trained), Variable(observations))
        return -(PolicyGradient.logProbabilities(logits, actions: actions) * Variable(advantages)).mean()
    }

    /// What one meta-iteration measured.
    public struct Metrics: Sendable {
        /// Mean return of the rollouts of this iteration's one-step-trained fresh policy (episodes
        /// cut at `rolloutSteps` count what they collected).
        public var rolloutReturn: Double
        public var metaLoss: Double
        public var innerLearningRate: Double
        public var environmentSteps: Int
    }

    /// One meta-iteration: a fresh policy, one inner step on the teacher's states, rollouts in the
    /// real environment, the meta-gradient step, and a critic step on the rollouts' returns.
    public mutating func step() -> Metrics {
        let gSpecs = Self.generatorSpecs(settings, environment)
        var init0 = rng
        let policyInit = policyNet.initialParameters(&init0)
        _ = rng.next()
        let t = teacher.map { Variable($0, requiresGrad: true) }
        let trained = Self.trainedPolicy(
            t, policyInit: policyInit.map { Variable($0, requiresGrad: true) }, policyNet: policyNet,
            generatorSpecs: gSpecs, targets: targets)
        // Rollouts with the trained policy (sampling), no graph.
        let rollout = self.rollout(trained.map(\.value))
        environmentSteps += rollout.observations.shape[0]
        let values = withoutGradients {
            criticNet(
                ParameterList(specs: criticNet.specs, values: critic.map { Variable($0) }),
                Variable(rollout.observations)
            )
            .value.scalars
        }
        let advantages = Tensor(shape: [values.count], scalars: zip(rollout.returns, values).map { Float($0) - $1 })
        let loss = Self.metaLoss(
            trained, policyNet: policyNet, observations: rollout.observations, actions: rollout.actions,
            advantages: advantages)
        var grads = gradients(of: loss, wrt: t).map(\.value)
        clipGradients(&grads, maxNorm: 1)
        metaOptimizer.update(&teacher, grads: grads, lr: settings.metaLearningRate)
        // The critic: squared error to the Monte-Carlo returns.
        let c = critic.map { Variable($0, requiresGrad: true) }
        let predicted = criticNet(ParameterList(specs: criticNet.specs, values: c), Variable(rollout.observations))
        let target = Variable(Tensor(shape: predicted.shape, scalars: rollout.returns.map { Float($0) }))
        let criticGrads = gradients(of: (predicted - target).squared().mean(), wrt: c).map(\.value)
        criticOptimizer.update(&critic, grads: criticGrads, lr: settings.criticLearningRate)
        iteration += 1
        return Metrics(
            rolloutReturn: rollout.meanReturn, metaLoss: Double(loss.scalar),
            innerLearningRate: Double(Foundation.exp(teacher.last!.scalars[0])), environmentSteps: environmentSteps)
    }

    /// The fresh policy `freshTrainedPolicy(seed:)` starts from (the control: no step on GTN data).
    public func freshPolicy(seed: UInt64) -> [Tensor<Float>] {
        var r = RandomSource(seed: seed)
        return policyNet.initialParameters(&r)
    }

    /// A fresh policy trained one step on the current teacher's states (weights), e.g. to evaluate it.
    public func freshTrainedPolicy(seed: UInt64) -> [Tensor<Float>] {
        var r = RandomSource(seed: seed)
        let init0 = policyNet.initialParameters(&r)
        // The inner step needs its gradient, so this builds a (small) graph and keeps only values.
        return Self.trainedPolicy(
            teacher.map { Variable($0) }, policyInit: init0.map { Variable($0, requiresGrad: true) },
            policyNet: policyNet, generatorSpecs: Self.generatorSpecs(settings, environment), targets: targets
        ).map(\.value)
    }

    struct Rollout {
        var observations: Tensor<Float>
        var actions: [Int]
        var returns: [Double]
        var meanReturn: Double
    }

    /// `rolloutEnvironments` episodes of up to `rolloutSteps` steps with the sampling policy;
    /// discounted returns to the episode's end (or its cut).
    func rollout(_ policy: [Tensor<Float>]) -> Rollout {
        var r = RandomSource(seed: settings.seed &+ 0x7011 &* UInt64(iteration + 1))
        let d = environment.observationSize
        let params = ParameterList(specs: policyNet.specs, values: policy.map { Variable($0) })
        var observations: [Float] = []
        var actions: [Int] = []
        var returns: [Double] = []
        var total = 0.0
        for _ in 0..<settings.rolloutEnvironments {
            var state = environment.initialState(&r)
            var rewards: [Double] = []
            for _ in 0..<settings.rolloutSteps {
                let x = Tensor(shape: [1, d], scalars: state.map { Float($0) })
                let logits = withoutGradients { policyNet(params, Variable(x)).value }
                let a = PolicyGradient.sample(logits, &r)[0]
                observations += x.scalars
                actions.append(a)
                let s = environment.step(state, action: a)
                rewards.append(s.reward)
                state = s.state
                if s.terminated { break }
            }
            total += rewards.reduce(0, +)
            var g = 0.0
            var episodeReturns = [Double](repeating: 0, count: rewards.count)
            for k in stride(from: rewards.count - 1, through: 0, by: -1) {
                g = rewards[k] + settings.gamma * g
                episodeReturns[k] = g
            }
            returns += episodeReturns
        }
        return Rollout(
            observations: Tensor(shape: [actions.count, d], scalars: observations), actions: actions, returns: returns,
            meanReturn: total / Double(settings.rolloutEnvironments))
    }
}

extension GTNRLTeacher {
    /// Evolution strategies as the outer optimiser (Salimans et al. 2017), which needs no
    /// differentiable path from the rollouts to the teacher: `pairs` antithetic perturbations
    /// ±σε of all teacher parameters, each scored by the mean rollout return of one fresh policy
    /// trained one step on the perturbed teacher's states (the same fresh initialisation for all,
    /// so the comparison is paired); the update is Adam on -(1 / 2nσ) Σ (F+ - F-) ε, with returns
    /// rank-normalised.
    public mutating func esStep(pairs: Int = 8, sigma: Float = 0.02) -> Metrics {
        let gSpecs = Self.generatorSpecs(settings, environment)
        var init0 = rng
        let policyInit = policyNet.initialParameters(&init0)
        var noise = rng.split()
        _ = rng.next()
        var epsilons: [[Tensor<Float>]] = []
        var fitness: [Double] = []
        var returns: [Double] = []
        for _ in 0..<pairs {
            let e = teacher.map { Tensor<Float>.randomNormal($0.shape, using: &noise) }
            epsilons.append(e)
            for sign: Float in [1, -1] {
                let perturbed = zip(teacher, e).map { $0 + $1 * (sign * sigma) }
                let trained = Self.trainedPolicy(
                    perturbed.map { Variable($0) }, policyInit: policyInit.map { Variable($0, requiresGrad: true) },
                    policyNet: policyNet, generatorSpecs: gSpecs, targets: targets)
                let r = rollout(trained.map(\.value))
                environmentSteps += r.observations.shape[0]
                fitness.append(r.meanReturn)
                returns.append(r.meanReturn)
            }
        }
        // Centred ranks in [-0.5, 0.5]: robust to the scale of returns.
        let order = fitness.indices.sorted { fitness[$0] < fitness[$1] }
        var rank = [Double](repeating: 0, count: fitness.count)
        for (k, i) in order.enumerated() { rank[i] = Double(k) / Double(max(fitness.count - 1, 1)) - 0.5 }
        var grads = teacher.map { Tensor<Float>.zeros($0.shape) }
        for p in 0..<pairs {
            let w = Float(-(rank[2 * p] - rank[2 * p + 1]) / (2 * Double(pairs) * Double(sigma)))
            grads = zip(grads, epsilons[p]).map { $0 + $1 * w }
        }
        metaOptimizer.update(&teacher, grads: grads, lr: settings.metaLearningRate)
        iteration += 1
        return Metrics(
            rolloutReturn: returns.reduce(0, +) / Double(returns.count), metaLoss: .nan,
            innerLearningRate: Double(Foundation.exp(teacher.last!.scalars[0])), environmentSteps: environmentSteps)
    }
}
