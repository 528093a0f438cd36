import Foundation

/// A named configuration shipped with the tool (`gtn train --preset NAME`), written as the JSON a
/// `--config` file holds: it is laid over the main job's defaults, and a config file and flags are
/// laid over it in turn. Only the keys a preset names change.
public struct Preset: Sendable {
    public var name: String
    /// One line: what the preset is for and what it costs on the 2-core reference machine.
    public var summary: String
    public var json: String
    /// Whether a run of this preset starts by tuning its initial inner lr and momentum on the
    /// validation split (plain SGD, the run's T and B), as the main job does: a property of our
    /// recipes, off for the official config, whose start is part of what it reproduces.
    public var tunesInnerStart = false

    /// The preset applied over `defaults`.
    public func apply(over defaults: GTNConfig) throws -> GTNConfig {
        do { return try GTNConfig.decode(file: Data(json.utf8), over: defaults) } catch let e as ConfigError {
            throw ConfigError(message: "preset \(name): \(e.message)")
        }
    }

    /// Every shipped preset, in the order `gtn train --list-presets` prints them.
    public static let all: [Preset] = [paperMNIST, fast]

    /// Whether a new run tunes its initial inner lr and momentum before meta-training: as asked
    /// (`asked`, from --tune-inner-init / --no-tune-inner-init), else as its preset says, else yes
    /// for the main job. Never when the run names its start, reads a config file (its settings
    /// stand as written) or has no meta-learned inner loop (the GAN teacher).
    public static func tunesInnerStart(
        asked: Bool?, preset: String?, configFile: Bool, startNamed: Bool, teacher: TeacherKind
    ) throws -> Bool {
        if let asked { return asked }
        if configFile || startNamed || teacher == .gan { return false }
        guard let preset else { return true }
        return try named(preset).tunesInnerStart
    }

    public static func named(_ name: String) throws -> Preset {
        guard let p = all.first(where: { $0.name == name }) else {
            throw ConfigError(
                message: "--preset \(name): no such preset; valid values: \(all.map(\.name).joined(separator: ", "))")
        }
        return p
    }

    /// The official MNIST experiment (uber-research/GTN experiments/cgtn.json) at the paper's T = 32:
    /// conditional generator, full curriculum, base_fc learner, B = 128, meta-batch 128, Adam lr
    /// 0.02 with cosine annealing to a tenth, inner SGD from lr 0.02 and momentum 0.5, intermediate
    /// losses, 2000 meta-iterations, no gradient clipping (`grad_bound` unset). About 16-19 s a
    /// meta-iteration here, so 9-10 hours.
    public static let paperMNIST = Preset(
        name: "paper-mnist",
        summary: "the paper's MNIST setting (official cgtn.json at T=32): 2000 meta-iterations, ~10 h on 2 cores",
        json: """
            {"teacher": "gtn", "generator": {"kind": "conditional", "noise": 128, "weightNorm": true},
             "learner": {"kind": "base_fc", "weightNorm": true}, "curriculum": "full",
             "innerSteps": 32, "batchSize": 128, "metaBatchSize": 128,
             "innerLearningRate": 0.02, "innerMomentum": 0.5, "innerOptimizer": "sgd",
             "metaLearningRate": 0.02, "metaBeta1": 0.9, "metaLearningRateFinalFraction": 0.1,
             "metaIterations": 2000, "intermediateLossEvery": 1, "learnersPerIteration": 1, "gradientClip": null}
            """)

    /// The paper's T = 32 within about 90 minutes here: the official architecture and optimiser,
    /// the main job's meta-gradient clip and tuned inner start, 600 meta-iterations (~7.9 s each
    /// on two cores since the speed work; 300 when they took 16-19 s), and the meta-loss also
    /// scored before every 4th inner step (8 real batches a meta-iteration instead of 32: every
    /// step's would cost a third more time). Measured: docs/NOTES.md, "Paper fidelity (issue 15)".
    public static let fast = Preset(
        name: "fast",
        summary: "T=32 as the paper, 600 meta-iterations, intermediate losses every 4th step, inner start tuned "
            + "on validation: ~85 min on 2 cores",
        json: """
            {"teacher": "gtn", "curriculum": "full", "learner": {"kind": "base_fc"},
             "innerSteps": 32, "batchSize": 128, "metaBatchSize": 128,
             "innerLearningRate": 0.02, "innerMomentum": 0.5,
             "metaLearningRate": 0.02, "metaLearningRateFinalFraction": 0.1,
             "metaIterations": 600, "intermediateLossEvery": 4, "learnersPerIteration": 1}
            """,
        tunesInnerStart: true)
}
