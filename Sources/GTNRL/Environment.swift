import GTNTensor

/// A reinforcement-learning task with a discrete action set, written to match a gymnasium
/// environment step for step (same constants, same update order, Float64 state), so that returns
/// here mean what they mean there. Only the initial-state draws differ: they follow gymnasium's
/// distribution from our own seeded generator, not NumPy's stream.
public protocol Environment: Sendable {
    /// gymnasium's id, e.g. "CartPole-v1".
    var name: String { get }
    var observationSize: Int { get }
    var actionCount: Int { get }
    /// The registered TimeLimit: an episode that reaches it is truncated.
    var maxEpisodeSteps: Int { get }
    /// A fresh episode's state.
    func initialState(_ rng: inout RandomSource) -> [Double]
    /// The state after `action`, its reward, and whether the episode terminated.
    func step(_ state: [Double], action: Int) -> (state: [Double], reward: Double, terminated: Bool)
}

/// `count` copies of an environment stepped together, each reset as soon as its episode ends
/// (terminated or truncated), as gymnasium's vector environments do (the "next-step" reset is
/// not copied: the observation returned for a finished episode is already the new episode's).
/// Observations come out as one [count, observationSize] Float tensor for a batched policy.
public struct VectorEnvironment<E: Environment> {
    public let environment: E
    public let count: Int
    /// Row-major [count, observationSize], Float64.
    public private(set) var states: [Double]
    /// Steps taken in each copy's current episode, and its return so far.
    public private(set) var episodeSteps: [Int]
    public private(set) var episodeReturns: [Double]
    /// Total environment steps taken by all copies (what learning curves are plotted against).
    public private(set) var totalSteps = 0
    var rng: RandomSource

    public init(_ environment: E, count: Int, seed: UInt64) {
        precondition(count > 0, "VectorEnvironment: count must be positive")
        (self.environment, self.count) = (environment, count)
        rng = RandomSource(seed: seed)
        states = []
        for _ in 0..<count { states += environment.initialState(&rng) }
        episodeSteps = Array(repeating: 0, count: count)
        episodeReturns = Array(repeating: 0, count: count)
    }

    public var observations: Tensor<Float> {
        Tensor(shape: [count, environment.observationSize], scalars: states.map { Float($0) })
    }

    /// What one step of all copies gave: rewards, and which episodes ended (terminated: a real
    /// end, whose value is 0; truncated: cut by the time limit, whose value is not), with the
    /// returns of the episodes that ended.
    public struct Transition {
        public var rewards: [Double]
        public var terminated: [Bool]
        public var truncated: [Bool]
        public var finishedReturns: [Double]
        /// The last state of each episode cut by the time limit (copy index, state), whose value
        /// a learner bootstraps from: the copy itself already shows the next episode.
        public var finalStates: [(Int, [Double])]
    }

    public mutating func step(_ actions: [Int]) -> Transition {
        precondition(actions.count == count, "VectorEnvironment.step: \(actions.count) actions for \(count) copies")
        let d = environment.observationSize
        var t = Transition(
            rewards: Array(repeating: 0, count: count), terminated: Array(repeating: false, count: count),
            truncated: Array(repeating: false, count: count), finishedReturns: [], finalStates: [])
        for i in 0..<count {
            let r = environment.step(Array(states[(i * d)..<((i + 1) * d)]), action: actions[i])
            episodeSteps[i] += 1
            episodeReturns[i] += r.reward
            t.rewards[i] = r.reward
            t.terminated[i] = r.terminated
            t.truncated[i] = !r.terminated && episodeSteps[i] >= environment.maxEpisodeSteps
            var next = r.state
            if t.terminated[i] || t.truncated[i] {
                t.finishedReturns.append(episodeReturns[i])
                if t.truncated[i] { t.finalStates.append((i, r.state)) }
                (episodeSteps[i], episodeReturns[i]) = (0, 0)
                next = environment.initialState(&rng)
            }
            states.replaceSubrange((i * d)..<((i + 1) * d), with: next)
        }
        totalSteps += count
        return t
    }
}

/// The environments by gymnasium id, for the command line.
public func environment(named name: String) -> (any Environment)? {
    switch name.lowercased() {
    case "cartpole", "cartpole-v1": CartPole()
    case "mountaincar", "mountaincar-v0": MountainCar()
    default: nil
    }
}
