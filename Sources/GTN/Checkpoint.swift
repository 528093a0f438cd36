import Foundation
import GTNIO
import GTNNN
import GTNTensor

/// Checkpoints in safetensors: every meta-learned tensor and the outer optimiser's moments, with
/// the configuration and counters in the metadata. Written atomically (temp file + rename), so an
/// interrupted write never damages the previous checkpoint.
public enum Checkpoint {
    public static let formatVersion = "1"

    public static func encode(_ trainer: MetaTrainer) -> SafeTensorsFile {
        var file = SafeTensorsFile()
        let s = trainer.state
        for (spec, t) in zip(trainer.generatorSpecs, s.generator) { file.tensors[dataKey(spec, trainer.config)] = t }
        if let c = s.curriculum { file.tensors["curriculum.noise"] = c }
        if let l = s.labels { file.tensors["curriculum.labels"] = l }
        file.tensors["inner.log_learning_rates"] = s.logLearningRates
        file.tensors["inner.log_momenta"] = s.logMomenta
        for (i, m) in s.optimizer.firstMoments.enumerated() { file.tensors["adam.m.\(i)"] = m }
        for (i, v) in s.optimizer.secondMoments.enumerated() { file.tensors["adam.v.\(i)"] = v }
        for (spec, t) in zip(trainer.discriminatorSpecs, s.discriminator) {
            file.tensors["discriminator.\(spec.name)"] = t
        }
        for (i, m) in s.discriminatorOptimizer.firstMoments.enumerated() {
            file.tensors["discriminator.adam.m.\(i)"] = m
        }
        for (i, v) in s.discriminatorOptimizer.secondMoments.enumerated() {
            file.tensors["discriminator.adam.v.\(i)"] = v
        }
        let config =
            (try? JSONEncoder.sorted.encode(trainer.config)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        file.metadata = [
            "format": "gtn-checkpoint", "version": formatVersion, "config": config,
            "iteration": String(s.iteration), "adam.step": String(s.optimizer.step),
        ]
        if !s.discriminator.isEmpty { file.metadata["discriminator.adam.step"] = String(s.discriminatorOptimizer.step) }
        return file
    }

    /// The tensor name of a data-making parameter: "generator.<layer>" for a GTN; the distilled
    /// images keep their own name ("distilled.images").
    static func dataKey(_ spec: ParameterSpec, _ config: GTNConfig) -> String {
        config.teacher == .gtn || config.teacher == .gan ? "generator.\(spec.name)" : spec.name
    }

    public static func save(_ trainer: MetaTrainer, to path: String) throws {
        try encode(trainer).write(path: path)
    }

    /// The configuration stored in a checkpoint.
    public static func config(of file: SafeTensorsFile, source: String) throws -> GTNConfig {
        guard file.metadata["format"] == "gtn-checkpoint" else {
            throw CheckpointError(path: source, message: "not a GTN checkpoint (metadata has no format=gtn-checkpoint)")
        }
        guard let json = file.metadata["config"]?.data(using: .utf8) else {
            throw CheckpointError(path: source, message: "no configuration in the metadata")
        }
        do { return try JSONDecoder().decode(GTNConfig.self, from: json) } catch {
            throw CheckpointError(path: source, message: "unreadable configuration: \(error)")
        }
    }

    /// Rebuilds a trainer from a checkpoint file.
    public static func load(path: String) throws -> MetaTrainer {
        let file = try SafeTensorsFile.read(path: path)
        return try restore(file, source: path)
    }

    public static func restore(_ file: SafeTensorsFile, source: String) throws -> MetaTrainer {
        let config = try config(of: file, source: source)
        var trainer = MetaTrainer(config: config)
        var s = trainer.state
        func tensor(_ name: String, shape: [Int]) throws -> Tensor<Float> {
            let t = try file.tensor(name, source: source)
            guard t.shape == shape else {
                throw CheckpointError(
                    path: source, message: "tensor \(name) has shape \(t.shape), the configuration needs \(shape)")
            }
            return t
        }
        s.generator = try zip(trainer.generatorSpecs, s.generator).map {
            try tensor(dataKey($0, config), shape: $1.shape)
        }
        if let c = s.curriculum { s.curriculum = try tensor("curriculum.noise", shape: c.shape) }
        if let l = s.labels { s.labels = try tensor("curriculum.labels", shape: l.shape) }
        s.logLearningRates = try tensor("inner.log_learning_rates", shape: s.logLearningRates.shape)
        s.logMomenta = try tensor("inner.log_momenta", shape: s.logMomenta.shape)
        guard let iteration = Int(file.metadata["iteration"] ?? ""), let step = Int(file.metadata["adam.step"] ?? "")
        else {
            throw CheckpointError(path: source, message: "metadata lacks iteration or adam.step")
        }
        s.iteration = iteration
        let shapes = s.parameters.map(\.shape)
        let m = step == 0 ? [] : try shapes.indices.map { try tensor("adam.m.\($0)", shape: shapes[$0]) }
        let v = step == 0 ? [] : try shapes.indices.map { try tensor("adam.v.\($0)", shape: shapes[$0]) }
        s.optimizer = MetaTrainer.outerOptimizer(config, step: step, first: m, second: v)
        if !s.discriminator.isEmpty {
            let specs = trainer.discriminatorSpecs
            s.discriminator = try zip(specs, s.discriminator).map {
                try tensor("discriminator.\($0.name)", shape: $1.shape)
            }
            guard let dStep = Int(file.metadata["discriminator.adam.step"] ?? "") else {
                throw CheckpointError(path: source, message: "metadata lacks discriminator.adam.step")
            }
            let shapes = s.discriminator.map(\.shape)
            let dm =
                dStep == 0 ? [] : try shapes.indices.map { try tensor("discriminator.adam.m.\($0)", shape: shapes[$0]) }
            let dv =
                dStep == 0 ? [] : try shapes.indices.map { try tensor("discriminator.adam.v.\($0)", shape: shapes[$0]) }
            s.discriminatorOptimizer = Adam(
                learningRate: config.gan.learningRate, beta1: config.gan.beta1, beta2: config.gan.beta2,
                epsilon: 1e-8, step: dStep, firstMoments: dm, secondMoments: dv)
        }
        trainer.state = s
        return trainer
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "checkpoint \(path): \(message)" }
}

extension JSONEncoder {
    /// Stable, readable JSON (config files, metadata).
    public static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return e
    }
}
