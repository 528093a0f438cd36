import Foundation
import GTNAutodiff
import GTNNN
import GTNTensor

/// A small MLP: observations -> tanh hidden layers -> `outputs` (action logits, or one value).
/// Separate networks for the policy and the value, as in Stable-Baselines3's A2C MlpPolicy.
public struct MLP: Sendable, Hashable {
    public var inputs: Int
    public var hidden: [Int]
    public var outputs: Int
    /// Scale of the last layer's initial weights (0.01 for a policy: near-uniform at first).
    public var outputScale: Double

    public init(inputs: Int, hidden: [Int] = [64, 64], outputs: Int, outputScale: Double = 1) {
        (self.inputs, self.hidden, self.outputs, self.outputScale) = (inputs, hidden, outputs, outputScale)
    }

    public var specs: [ParameterSpec] {
        let widths = [inputs] + hidden + [outputs]
        return (0..<(widths.count - 1)).flatMap { i in
            Layers.linearSpecs("fc\(i + 1)", inputs: widths[i], outputs: widths[i + 1], bias: true, weightNorm: false)
        }
    }

    public func initialParameters(_ rng: inout RandomSource) -> [Tensor<Float>] {
        var values = ParameterList<Float>(specs: specs, rng: &rng).values.map(\.value)
        // The last layer's weight is the last but one parameter (its bias is the last).
        values[values.count - 2] = values[values.count - 2] * Float(outputScale)
        return values
    }

    public func callAsFunction<S>(_ params: ParameterList<S>, _ x: Variable<S>) -> Variable<S> {
        var p = ParameterReader(params)
        var h = x
        for i in 0..<hidden.count { h = Layers.linear(h, &p, "fc\(i + 1)", bias: true, weightNorm: false).tanh() }
        return Layers.linear(h, &p, "fc\(hidden.count + 1)", bias: true, weightNorm: false)
    }
}

/// The policy-gradient pieces every method here shares.
public enum PolicyGradient {
    /// log π(a_i | s_i) for each row: the log-softmax of `logits` [N, A] at `actions`, shape [N].
    public static func logProbabilities<S>(_ logits: Variable<S>, actions: [Int]) -> Variable<S> {
        let (n, a) = (logits.shape[0], logits.shape[1])
        return (logits.logSoftmax() * Variable(oneHot(actions, classes: a))).sum(alongAxes: [1]).reshaped([n])
    }

    /// The entropy of each row's policy, shape [N].
    public static func entropy<S>(_ logits: Variable<S>) -> Variable<S> {
        let logP = logits.logSoftmax()
        return -(logP.exp() * logP).sum(alongAxes: [1]).reshaped([logits.shape[0]])
    }

    /// Samples one action per row of `logits` [N, A] from the softmax policy.
    public static func sample(_ logits: Tensor<Float>, _ rng: inout RandomSource) -> [Int] {
        let (n, a) = (logits.shape[0], logits.shape[1])
        return (0..<n).map { i in
            let row = logits.scalars[(i * a)..<((i + 1) * a)].map(Double.init)
            let m = row.max()!
            let w = row.map { Foundation.exp($0 - m) }
            var u = rng.uniform(Double.self) * w.reduce(0, +)
            for (k, x) in w.enumerated() {
                u -= x
                if u < 0 { return k }
            }
            return a - 1
        }
    }

    /// n-step returns of a rollout [T][E], bootstrapped from `lastValues` [E]: a terminated step
    /// has no future; a truncated one (time limit) continues with the value of its final state.
    public static func returns(
        rewards: [[Double]], terminated: [[Bool]], truncated: [[Bool]], truncatedValues: [[Double]],
        lastValues: [Double], gamma: Double
    ) -> [[Double]] {
        var next = lastValues
        var out = rewards
        for t in stride(from: rewards.count - 1, through: 0, by: -1) {
            for e in next.indices {
                let future = terminated[t][e] ? 0 : truncated[t][e] ? truncatedValues[t][e] : next[e]
                out[t][e] = rewards[t][e] + gamma * future
            }
            next = out[t]
        }
        return out
    }
}

/// RMSProp as PyTorch's (and Stable-Baselines3's A2C) uses it: v = α v + (1 - α) g², p -= lr g / (sqrt(v) + ε).
public struct RMSProp: Sendable {
    public var learningRate: Double, alpha: Double, epsilon: Double
    var squares: [Tensor<Float>] = []

    public init(learningRate: Double, alpha: Double = 0.99, epsilon: Double = 1e-5) {
        (self.learningRate, self.alpha, self.epsilon) = (learningRate, alpha, epsilon)
    }

    public mutating func update(_ params: inout [Tensor<Float>], grads: [Tensor<Float>]) {
        if squares.isEmpty { squares = params.map { .zeros($0.shape) } }
        let (a, lr, eps) = (Float(alpha), Float(learningRate), Float(epsilon))
        for i in params.indices {
            var v = squares[i].scalars
            var p = params[i].scalars
            let g = grads[i].scalars
            for k in 0..<p.count {
                v[k] = a * v[k] + (1 - a) * g[k] * g[k]
                p[k] -= lr * g[k] / (v[k].squareRoot() + eps)
            }
            squares[i].scalars = v
            params[i].scalars = p
        }
    }
}

/// Advantage actor-critic (Mnih et al. 2016, synchronous): `environments` copies step together
/// for `steps` steps, then one update of policy and value on n-step returns, with an entropy
/// bonus and gradient clipping. Defaults are Stable-Baselines3's A2C (RMSProp 7e-4, α 0.99,
/// ε 1e-5, γ 0.99, n = 5, value coefficient 0.5, clip 0.5), with 8 environments and entropy 0.01.
public struct A2C<E: Environment> {
    public struct Settings: Sendable {
        public var environments = 8
        public var steps = 5
        public var gamma = 0.99
        public var learningRate = 7e-4
        public var entropyCoefficient = 0.01
        public var valueCoefficient = 0.5
        public var maxGradientNorm = 0.5
        public var hidden = [64, 64]
        public var seed: UInt64 = 0
        public init() {}
    }

    public let settings: Settings
    public let policyNet: MLP
    public let valueNet: MLP
    public var policy: [Tensor<Float>]
    public var value: [Tensor<Float>]
    public var environment: VectorEnvironment<E>
    var optimizer: RMSProp
    var rng: RandomSource
    /// Returns of the training episodes finished so far.
    public private(set) var finishedReturns: [Double] = []

    public init(_ env: E, settings: Settings = Settings()) {
        self.settings = settings
        var rng = RandomSource(seed: settings.seed)
        policyNet = MLP(
            inputs: env.observationSize, hidden: settings.hidden, outputs: env.actionCount, outputScale: 0.01)
        valueNet = MLP(inputs: env.observationSize, hidden: settings.hidden, outputs: 1)
        policy = policyNet.initialParameters(&rng)
        value = valueNet.initialParameters(&rng)
        environment = VectorEnvironment(env, count: settings.environments, seed: rng.next())
        optimizer = RMSProp(learningRate: settings.learningRate)
        self.rng = rng
    }

    func values(_ observations: Tensor<Float>) -> [Double] {
        withoutGradients {
            valueNet(ParameterList(specs: valueNet.specs, values: value.map { Variable($0) }), Variable(observations))
                .value.scalars.map(Double.init)
        }
    }

    /// One rollout and one update. Returns the loss terms (policy, value, entropy).
    @discardableResult
    public mutating func update() -> (policy: Double, value: Double, entropy: Double) {
        let (n, e, d) = (settings.steps, settings.environments, environment.environment.observationSize)
        var observations: [Tensor<Float>] = []
        var actions: [[Int]] = []
        var rewards: [[Double]] = []
        var terminated: [[Bool]] = []
        var truncated: [[Bool]] = []
        var truncatedValues: [[Double]] = []
        for _ in 0..<n {
            let obs = environment.observations
            let logits = withoutGradients {
                policyNet(ParameterList(specs: policyNet.specs, values: policy.map { Variable($0) }), Variable(obs))
                    .value
            }
            let a = PolicyGradient.sample(logits, &rng)
            let t = environment.step(a)
            observations.append(obs)
            actions.append(a)
            rewards.append(t.rewards)
            terminated.append(t.terminated)
            truncated.append(t.truncated)
            var tv = [Double](repeating: 0, count: e)
            for (i, s) in t.finalStates {
                tv[i] = values(Tensor(shape: [1, d], scalars: s.map { Float($0) }))[0]
            }
            truncatedValues.append(tv)
            finishedReturns += t.finishedReturns
        }
        let targets = PolicyGradient.returns(
            rewards: rewards, terminated: terminated, truncated: truncated, truncatedValues: truncatedValues,
            lastValues: values(environment.observations), gamma: settings.gamma)
        let x = Tensor(shape: [n * e, d], scalars: observations.flatMap(\.scalars))
        let r = Variable(Tensor(shape: [n * e], scalars: targets.flatMap { $0.map { Float($0) } }))
        let p = policy.map { Variable($0, requiresGrad: true) }
        let v = value.map { Variable($0, requiresGrad: true) }
        let logits = policyNet(ParameterList(specs: policyNet.specs, values: p), Variable(x))
        let predicted = valueNet(ParameterList(specs: valueNet.specs, values: v), Variable(x)).reshaped([n * e])
        let advantage = Variable((r - predicted).value)  // no gradient through the baseline
        let policyLoss = -(PolicyGradient.logProbabilities(logits, actions: actions.flatMap { $0 }) * advantage).mean()
        let valueLoss = (r - predicted).squared().mean()
        let entropy = PolicyGradient.entropy(logits).mean()
        let loss =
            policyLoss + valueLoss * Float(settings.valueCoefficient) - entropy * Float(settings.entropyCoefficient)
        var grads = gradients(of: loss, wrt: p + v).map(\.value)
        clipGradients(&grads, maxNorm: settings.maxGradientNorm)
        var params = policy + value
        optimizer.update(&params, grads: grads)
        policy = Array(params[0..<policy.count])
        value = Array(params[policy.count...])
        return (Double(policyLoss.scalar), Double(valueLoss.scalar), Double(entropy.scalar))
    }
}

/// Mean return of a policy over `episodes` fresh episodes, acting greedily (the most probable
/// action), as Stable-Baselines3's evaluate_policy does by default.
public func evaluatePolicy<E: Environment>(
    _ env: E, net: MLP, parameters: [Tensor<Float>], episodes: Int = 20, seed: UInt64 = 0
) -> Double {
    var v = VectorEnvironment(env, count: episodes, seed: seed)
    var returns = [Double?](repeating: nil, count: episodes)
    let params = ParameterList(specs: net.specs, values: parameters.map { Variable($0) })
    while returns.contains(where: { $0 == nil }) {
        let logits = withoutGradients { net(params, Variable(v.observations)).value }
        let a = logits.argmaxRows()
        let before = v.episodeReturns
        let t = v.step(a)
        for i in 0..<episodes where returns[i] == nil && (t.terminated[i] || t.truncated[i]) {
            returns[i] = before[i] + t.rewards[i]
        }
    }
    return returns.map { $0! }.reduce(0, +) / Double(episodes)
}
