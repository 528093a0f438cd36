import ArgumentParser
import Foundation
import GTNIO
import GTNRL
import GTNTensor

struct RL: ParsableCommand {
    enum Method: String, ExpressibleByArgument, CaseIterable { case a2c, gtn }
    enum Outer: String, ExpressibleByArgument, CaseIterable { case gradient, es }

    static let configuration = CommandConfiguration(
        commandName: "rl",
        abstract: "Reinforcement learning on gymnasium-matched environments: the A2C control of the paper's Fig. 8.",
        discussion: """
            Writes DIR/metrics.jsonl: one row every --eval-every updates with the environment steps used, the \
            mean return of the current policy acting greedily over 20 fresh episodes, the mean return of the last \
            20 training episodes, and seconds. --method gtn: GTN-RL (one SGD step of a fresh policy on the \
            generator's synthetic states per meta-iteration); its rows give the mean greedy return of 5 fresh \
            policies (20 in the last row) trained one step on the current teacher's states, the same 5 before their step (the \
            control: what a random initialisation does by itself), and the mean return of recent rollouts.
            """)

    @Option(help: "Method: \(Method.allCases.map(\.rawValue).joined(separator: ", ")).") var method: Method = .a2c
    @Option(
        help:
            .init(
                "GTN-RL's outer optimiser: gradient (through the inner step, actor-critic meta-loss) or es "
                    + "(evolution strategies: 8 antithetic pairs, σ 0.02, Adam 0.01 on rank-normalised returns)."))
    var outer: Outer = .gradient
    @Option(help: "Environment: cartpole (CartPole-v1) or mountaincar (MountainCar-v0).") var env = "cartpole"
    @Option(help: "Environment steps to train for (all copies together).") var steps = 200_000
    @Option(help: "Parallel environment copies.") var environments = 8
    @Option(help: "Evaluate every N updates.") var evalEvery = 250
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Run directory to create.") var output: String

    func validate() throws {
        if environment(named: env) == nil {
            throw ValidationError("--env \(env): unknown environment; valid values: cartpole, mountaincar")
        }
        for (name, v) in [("--steps", steps), ("--environments", environments), ("--eval-every", evalEvery)]
        where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
    }

    func run() throws {
        setlinebuf(stdout)
        if FileManager.default.fileExists(atPath: output + "/metrics.jsonl") {
            throw CommandError("--output \(output): holds a run already; choose another directory")
        }
        try createDirectory(output)
        switch environment(named: env)! {
        case let e as CartPole: try train(e)
        case let e as MountainCar: try train(e)
        default: throw CommandError("--env \(env): not supported by rl yet")
        }
    }

    func train<E: Environment>(_ env: E) throws {
        if method == .gtn { return try trainGTN(env) }
        var settings = A2C<E>.Settings()
        settings.environments = environments
        settings.seed = seed
        var agent = A2C(env, settings: settings)
        let metrics = try MetricsFile(directory: output)
        print("gtn rl: \(method.rawValue) on \(env.name), \(environments) environments, \(steps) steps -> \(output)")
        let start = Date()
        var updates = 0
        while agent.environment.totalSteps < steps {
            agent.update()
            updates += 1
            if updates % evalEvery == 0 || agent.environment.totalSteps >= steps {
                let greedy = evaluatePolicy(env, net: agent.policyNet, parameters: agent.policy, episodes: 20, seed: 7)
                let recent = agent.finishedReturns.suffix(20)
                let training = recent.isEmpty ? 0 : recent.reduce(0, +) / Double(recent.count)
                let row: [String: Any] = [
                    "method": method.rawValue, "environment": env.name,
                    "environmentSteps": agent.environment.totalSteps,
                    "updates": updates, "evaluationReturn": greedy, "trainingReturn": training,
                    "seconds": Date().timeIntervalSince(start),
                ]
                try metrics.append(row)
                print(
                    String(
                        format: "steps %8d  greedy return %7.2f  training return %7.2f  %6.1f s",
                        agent.environment.totalSteps, greedy, training, Date().timeIntervalSince(start)))
            }
        }
    }

    func trainGTN<E: Environment>(_ env: E) throws {
        var settings = GTNRLTeacher<E>.Settings()
        settings.seed = seed
        settings.rolloutEnvironments = environments
        if outer == .es { settings.metaLearningRate = 0.01 }
        var teacher = GTNRLTeacher(env, settings: settings)
        let metrics = try MetricsFile(directory: output)
        print(
            "gtn rl: gtn (\(outer == .es ? "evolution strategies" : "meta-gradient")) on \(env.name), "
                + "\(environments) rollouts a \(outer == .es ? "perturbation" : "meta-iteration"), \(steps) steps -> \(output)"
        )
        let start = Date()
        var recent: [Double] = []
        while teacher.environmentSteps < steps {
            let m = outer == .es ? teacher.esStep() : teacher.step()
            recent = Array((recent + [m.rolloutReturn]).suffix(20))
            if teacher.iteration % evalEvery == 0 || teacher.environmentSteps >= steps {
                // Several fresh policies, each also scored before its step: how much the step on the
                // teacher's states adds to what a random initialisation does by itself.
                var (greedy, untrained) = (0.0, 0.0)
                // The last row scores more fresh policies: it is the run's headline figure.
                let policies = teacher.environmentSteps >= steps ? 20 : 5
                for k in 0..<policies {
                    let seed = 0xF2E5 &+ UInt64(teacher.iteration) &* 31 &+ UInt64(k)
                    greedy +=
                        evaluatePolicy(
                            env, net: teacher.policyNet, parameters: teacher.freshTrainedPolicy(seed: seed),
                            episodes: 20,
                            seed: 7) / Double(policies)
                    untrained +=
                        evaluatePolicy(
                            env, net: teacher.policyNet, parameters: teacher.freshPolicy(seed: seed), episodes: 20,
                            seed: 7)
                        / Double(policies)
                }
                let training = recent.reduce(0, +) / Double(recent.count)
                let row: [String: Any] = [
                    "method": method.rawValue + (outer == .es ? "-es" : ""), "environment": env.name,
                    "environmentSteps": teacher.environmentSteps,
                    "updates": teacher.iteration, "evaluationReturn": greedy, "trainingReturn": training,
                    "untrainedReturn": untrained, "innerLearningRate": m.innerLearningRate,
                    "seconds": Date().timeIntervalSince(start),
                ]
                try metrics.append(row)
                print(
                    String(
                        format:
                            "steps %8d  fresh policies after one step: greedy %7.2f (before it %7.2f)  rollouts %7.2f  "
                            + "inner lr %.3f  %6.1f s", teacher.environmentSteps, greedy, untrained, training,
                        m.innerLearningRate, Date().timeIntervalSince(start)))
            }
        }
    }
}

/// DIR/metrics.jsonl of a `gtn rl` run: created empty, then one JSON row per evaluation.
struct MetricsFile {
    let handle: FileHandle

    init(directory: String) throws {
        let path = directory + "/metrics.jsonl"
        try writeAtomically(Data(), to: path)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func append(_ row: [String: Any]) throws {
        try handle.write(contentsOf: JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]) + [0x0A])
    }
}
