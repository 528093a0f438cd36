import Foundation
import GTNData
import GTNIO
import GTNTune

/// `gtn tune`: Bayesian optimisation of meta-training hyperparameters, each trial a short
/// meta-training run (paper Fig. 1b's "20 runs obtained during hyperparameter optimization with
/// Bayesian Optimization"). A study has one or more arms (the weight-norm study: with and without
/// weight normalisation), each with its own optimiser over the same space and budget; trials
/// alternate between arms. Every trial is a row of trials.jsonl and keeps its run directory, so an
/// interrupted study resumes where it stopped and suggests exactly what it would have.
public struct TuningStudy {
    /// The settings a search dimension may name, and how each changes a configuration.
    public static let tunable: [String: (inout GTNConfig, Double, SearchDimension) -> Void] = [
        "metaLearningRate": { c, v, _ in c.metaLearningRate = v },
        "innerLearningRate": { c, v, _ in c.innerLearningRate = v },
        "innerMomentum": { c, v, _ in c.innerMomentum = v },
        "metaBeta1": { c, v, _ in c.metaBeta1 = v },
        "gradientClip": { c, v, _ in c.gradientClip = v },
        // The generator's widths (hidden units and channels) times this factor.
        "generatorWidth": { c, v, _ in
            c.generator.hidden = max(8, Int((Double(c.generator.hidden) * v).rounded()))
            c.generator.channels = max(4, Int((Double(c.generator.channels) * v).rounded()))
        },
        "curriculum": { c, v, d in
            if let name = d.choices?[Int(v)], let k = CurriculumKind(rawValue: name) { c.curriculum = k }
        },
    ]

    /// The issue's default space: meta lr, initial inner lr and momentum, meta beta1, gradient
    /// clip, generator width multiplier.
    public static let defaultSpace: [SearchDimension] = [
        SearchDimension(name: "metaLearningRate", low: 1e-3, high: 0.1, scale: .log),
        SearchDimension(name: "innerLearningRate", low: 3e-3, high: 0.3, scale: .log),
        SearchDimension(name: "innerMomentum", low: 0.1, high: 0.95),
        SearchDimension(name: "metaBeta1", low: 0.5, high: 0.99),
        SearchDimension(name: "gradientClip", low: 0.1, high: 100, scale: .log),
        SearchDimension(name: "generatorWidth", low: 0.5, high: 2, scale: .log),
    ]

    public enum Objective: String, Codable, Sendable, CaseIterable {
        /// Mean meta-loss of the last 5 meta-iterations (lower is better).
        case metaLoss = "meta-loss"
        /// Validation error of a fresh learner taught by the final teacher (1 - accuracy).
        case validationError = "validation-error"
    }

    public struct Arm: Sendable {
        public var name: String
        public var base: GTNConfig
        public init(name: String, base: GTNConfig) { (self.name, self.base) = (name, base) }
    }

    /// One row of trials.jsonl.
    public struct Trial: Codable, Sendable {
        public var trial: Int
        public var arm: String
        public var point: [Double]
        public var values: [String: Double]
        /// nil when the run diverged (recorded, and modelled at a penalty).
        public var objective: Double?
        public var finalMetaLoss: Double?
        public var validationAccuracy: Double?
        public var status: String
        public var seconds: Double
    }

    public let directory: String
    public let space: [SearchDimension]
    public let arms: [Arm]
    public let trialsPerArm: Int
    public let objective: Objective
    public let seed: UInt64
    public private(set) var trials: [Trial] = []
    var optimizers: [String: BayesianOptimizer] = [:]

    var trialsPath: String { directory + "/trials.jsonl" }

    public init(
        directory: String, space: [SearchDimension], arms: [Arm], trialsPerArm: Int, objective: Objective,
        seed: UInt64
    ) throws {
        for d in space {
            if let p = d.problem { throw ConfigError(message: "search space: \(p)") }
            guard Self.tunable[d.name] != nil else {
                throw ConfigError(
                    message: "search space: \(d.name) is not a tunable setting; tunable: "
                        + Self.tunable.keys.sorted().joined(separator: ", "))
            }
        }
        (self.directory, self.space, self.arms, self.trialsPerArm, self.objective, self.seed) = (
            directory, space, arms, trialsPerArm, objective, seed
        )
        for (i, arm) in arms.enumerated() {
            optimizers[arm.name] = BayesianOptimizer(space: space, initialRandom: 5, seed: seed &+ UInt64(i) &* 7919)
        }
        try createDirectory(directory)
        // Resume: every recorded trial is observed again, in order.
        if let text = try? String(contentsOfFile: trialsPath, encoding: .utf8) {
            for (n, line) in text.split(separator: "\n").enumerated() {
                guard let t = try? JSONDecoder().decode(Trial.self, from: Data(line.utf8)) else {
                    throw ConfigError(message: "\(trialsPath):\(n + 1): not a trial row")
                }
                trials.append(t)
                optimizers[t.arm]?.observe(t.point, t.objective)
            }
        }
    }

    public var isComplete: Bool { trials.count >= trialsPerArm * arms.count }

    /// The arm of the next trial: arms take turns.
    var nextArm: Arm { arms[trials.count % arms.count] }

    /// Runs the next trial: `train` meta-trains the given configuration in the given directory and
    /// returns (final meta-loss, validation accuracy), or throws `DivergedError`.
    public mutating func runNext(
        train: (GTNConfig, String) throws -> (metaLoss: Double, validationAccuracy: Double)
    ) throws -> Trial {
        let arm = nextArm
        let optimizer = optimizers[arm.name]!
        let point = optimizer.suggest().point
        var config = arm.base
        var values: [String: Double] = [:]
        for (d, u) in zip(space, point) {
            let v = d.value(u)
            values[d.name] = v
            Self.tunable[d.name]!(&config, v, d)
        }
        let index = trials.count
        let runDirectory = directory + String(format: "/trial-%03d-%@", index, arm.name)
        // A trial interrupted before its row was written starts again.
        try? FileManager.default.removeItem(atPath: runDirectory)
        let start = Date()
        var trial = Trial(
            trial: index, arm: arm.name, point: point, values: values, objective: nil, finalMetaLoss: nil,
            validationAccuracy: nil, status: "ok", seconds: 0)
        do {
            try config.validate()
            let r = try train(config, runDirectory)
            trial.finalMetaLoss = r.metaLoss
            trial.validationAccuracy = r.validationAccuracy
            trial.objective = objective == .metaLoss ? r.metaLoss : 1 - r.validationAccuracy
            if !(trial.objective!.isFinite) { (trial.objective, trial.status) = (nil, "diverged") }
        } catch is DivergedError {
            trial.status = "diverged"
        } catch let e as ConfigError {
            trial.status = "invalid: \(e.message)"
        }
        trial.seconds = Date().timeIntervalSince(start)
        optimizers[arm.name]!.observe(point, trial.objective)
        trials.append(trial)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = try encoder.encode(trial)
        let previous = (try? Data(contentsOf: URL(fileURLWithPath: trialsPath))) ?? Data()
        try writeAtomically(previous + line + Data([0x0A]), to: trialsPath)
        return trial
    }
}
