import Foundation
import GTNRL
import GTNTensor
import Testing

/// An episode recorded from gymnasium: the state after reset, then per step the action and what
/// followed it.
struct RecordedEpisode: Decodable {
    struct Step: Decodable {
        var action: Int
        var state: [Double]
        var reward: Double
        var terminated: Bool
        var truncated: Bool
    }
    var seed: Int
    var initial: [Double]
    var steps: [Step]
}

struct Recording: Decodable {
    var environment: String
    var gymnasium: String
    var episodes: [RecordedEpisode]

    static func load(_ file: String) throws -> Recording {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(file)")
        return try JSONDecoder().decode(Recording.self, from: Data(contentsOf: url))
    }
}

@Suite("Environments match gymnasium")
struct EnvironmentTests {
    /// Replays every recorded action from the recorded initial state; every state, reward and
    /// end flag must agree (states within 1e-6: in practice they agree to the last bit or two).
    func replay(_ env: some Environment, _ file: String) throws -> Double {
        let recording = try Recording.load(file)
        #expect(recording.environment == env.name)
        var worst = 0.0
        for episode in recording.episodes {
            var state = episode.initial
            for (t, step) in episode.steps.enumerated() {
                let r = env.step(state, action: step.action)
                for (a, b) in zip(r.state, step.state) { worst = max(worst, abs(a - b)) }
                #expect(r.reward == step.reward, "episode \(episode.seed) step \(t)")
                #expect(r.terminated == step.terminated, "episode \(episode.seed) step \(t)")
                #expect(step.truncated == (!r.terminated && t + 1 == env.maxEpisodeSteps), "episode \(episode.seed) step \(t)")
                state = r.state
            }
        }
        #expect(worst < 1e-6, "largest state difference \(worst)")
        return worst
    }

    @Test("CartPole-v1: recorded random and balancing episodes (termination and the 500-step truncation)")
    func cartPole() throws {
        let recording = try Recording.load("cartpole-v1.json")
        #expect(recording.episodes.contains { $0.steps.last!.truncated && $0.steps.count == 500 })
        #expect(recording.episodes.contains { $0.steps.last!.terminated })
        _ = try replay(CartPole(), "cartpole-v1.json")
    }

    @Test("MountainCar-v0: a random episode (truncated at 200) and one that reaches the flag")
    func mountainCar() throws {
        _ = try replay(MountainCar(), "mountaincar-v0.json")
    }

    @Test("the vector environment resets finished copies, counts steps and returns, and draws initial states in range")
    func vectorEnvironment() {
        var v = VectorEnvironment(CartPole(), count: 8, seed: 3)
        #expect(v.states.allSatisfy { abs($0) <= 0.05 })
        #expect(v.observations.shape == [8, 4])
        var finished: [Double] = []
        for _ in 0..<60 { finished += v.step(Array(repeating: 1, count: 8)).finishedReturns }
        // Always pushing right ends every episode within a few dozen steps (|θ| > 12°).
        #expect(finished.count >= 8)
        #expect(finished.allSatisfy { $0 >= 8 && $0 < 60 && $0 == $0.rounded() }, "\(finished)")
        #expect(v.totalSteps == 480)
        var m = VectorEnvironment(MountainCar(), count: 4, seed: 1)
        #expect(stride(from: 0, to: 8, by: 2).allSatisfy { m.states[$0] >= -0.6 && m.states[$0] <= -0.4 && m.states[$0 + 1] == 0 })
        var ends: [Bool] = []
        for _ in 0..<200 { ends += m.step(Array(repeating: 1, count: 4)).truncated }
        #expect(ends.filter { $0 }.count == 4, "doing nothing is truncated at 200 steps in every copy")
    }
}
