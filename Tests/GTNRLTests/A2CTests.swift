import Foundation
import GTNAutodiff
import GTNRL
import GTNTensor
import Testing

@Suite("Policy gradients and A2C")
struct A2CTests {
    @Test("the score-function estimator is unbiased on a two-armed bandit: E[∇ log π(a) r(a)] = π ⊙ (r - J)")
    func banditGradient() {
        let theta: [Float] = [0.3, -0.2]
        let reward: [Double] = [1, 0.25]
        let z = theta.map { Foundation.exp(Double($0)) }
        let pi = z.map { $0 / z.reduce(0, +) }
        let j = zip(pi, reward).reduce(0) { $0 + $1.0 * $1.1 }
        let exact = zip(pi, reward).map { $0 * ($1 - j) }
        var rng = RandomSource(seed: 4)
        let n = 40000
        let logits = Tensor(shape: [n, 2], scalars: (0..<n).flatMap { _ in theta })
        let actions = PolicyGradient.sample(logits, &rng)
        let share = Double(actions.filter { $0 == 0 }.count) / Double(n)
        #expect(abs(share - pi[0]) < 0.01, "sampled \(share), π \(pi[0])")
        let t = Variable(Tensor(shape: [1, 2], scalars: theta), requiresGrad: true)
        let rows = t + Variable(Tensor<Float>.zeros([n, 2]))
        let r = Variable(Tensor(shape: [n], scalars: actions.map { Float(reward[$0]) }))
        let objective = (PolicyGradient.logProbabilities(rows, actions: actions) * r).mean()
        let estimate = gradients(of: objective, wrt: [t])[0].value.scalars.map(Double.init)
        // Standard error of each component is below 0.003 here; allow four of them.
        for k in 0..<2 { #expect(abs(estimate[k] - exact[k]) < 0.012, "\(estimate) vs \(exact)") }
    }

    @Test("n-step returns: discounting, termination (no future) and truncation (the final state's value)")
    func returns() {
        let r = PolicyGradient.returns(
            rewards: [[1, 1], [1, 1]], terminated: [[false, false], [true, false]],
            truncated: [[false, true], [false, false]], truncatedValues: [[0, 10], [0, 0]], lastValues: [5, 7],
            gamma: 0.5)
        let last: [Double] = [1, 4.5]  // terminated: 1; continuing: 1 + 0.5 x 7
        let first: [Double] = [1.5, 6]  // 1 + 0.5 x 1; truncated: 1 + 0.5 x 10
        #expect(r[1] == last)
        #expect(r[0] == first)
    }

    @Test("a short A2C run on CartPole learns well above a random policy (~22 a episode)")
    func a2cLearnsCartPole() {
        for seed in [1, 2] as [UInt64] {
            var settings = A2C<CartPole>.Settings()
            settings.seed = seed
            var agent = A2C(CartPole(), settings: settings)
            for _ in 0..<1000 { agent.update() }
            // The stochastic policy's training episodes (a uniformly random policy averages ~22).
            let returns = agent.finishedReturns
            let first = returns.prefix(20).reduce(0, +) / 20
            let last = returns.suffix(20).reduce(0, +) / 20
            #expect(last > 100, "seed \(seed): \(first) -> \(last)")
        }
    }
}
