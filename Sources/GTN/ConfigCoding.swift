import Foundation

/// Config files name only what they change: every key is optional (defaults fill the rest), and an
/// unknown key is an error that names it, so a typo never silently trains the wrong thing.
extension GTNConfig {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case teacher, generator, learner, randomLearnerWidths, curriculum, learnLabels, innerSteps, batchSize,
            metaBatchSize
        case innerLearningRate, innerMomentum, metaLearningRate, metaBeta1, metaBeta2, metaEpsilon
        case metaLearningRateFinalFraction, metaIterations, gradientClip, checkpointBlock, replayCacheMegabytes,
            intermediateLossEvery, finalLossWeight, innerOptimizer, learnersPerIteration, gan, seed
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.map(\.stringValue).first(where: { !known.contains($0) }) {
            throw DecodingError.dataCorruptedError(
                forKey: AnyKey(stringValue: unknown), in: all,
                debugDescription:
                    "unknown key \"\(unknown)\"; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.teacher, &teacher)
        try read(.generator, &generator)
        try read(.learner, &learner)
        try read(.randomLearnerWidths, &randomLearnerWidths)
        try read(.curriculum, &curriculum)
        try read(.learnLabels, &learnLabels)
        try read(.innerSteps, &innerSteps)
        try read(.batchSize, &batchSize)
        try read(.metaBatchSize, &metaBatchSize)
        try read(.innerLearningRate, &innerLearningRate)
        try read(.innerMomentum, &innerMomentum)
        try read(.metaLearningRate, &metaLearningRate)
        try read(.metaBeta1, &metaBeta1)
        try read(.metaBeta2, &metaBeta2)
        try read(.metaEpsilon, &metaEpsilon)
        try read(.metaLearningRateFinalFraction, &metaLearningRateFinalFraction)
        try read(.metaIterations, &metaIterations)
        try read(.checkpointBlock, &checkpointBlock)
        try read(.replayCacheMegabytes, &replayCacheMegabytes)
        try read(.seed, &seed)
        try read(.intermediateLossEvery, &intermediateLossEvery)
        try read(.finalLossWeight, &finalLossWeight)
        try read(.learnersPerIteration, &learnersPerIteration)
        try read(.innerOptimizer, &innerOptimizer)
        try read(.gan, &gan)
        if c.contains(.gradientClip) { gradientClip = try c.decodeIfPresent(Double.self, forKey: .gradientClip) }
    }

    /// The `gtn train` flag of each setting that has one, for messages.
    static let flags: [String: String] = [
        "innerSteps": "--inner-steps", "batchSize": "--batch-size", "metaBatchSize": "--meta-batch-size",
        "metaIterations": "--iterations", "innerLearningRate": "--inner-lr", "innerMomentum": "--inner-momentum",
        "metaLearningRate": "--meta-lr", "gradientClip": "--gradient-clip", "checkpointBlock": "--checkpoint-block",
        "replayCacheMegabytes": "--replay-cache-mb", "intermediateLossEvery": "--intermediate-losses",
        "finalLossWeight": "--final-loss-weight",
        "learnersPerIteration": "--learners-per-iteration", "gan.weight": "--gan-weight",
        "learnLabels": "--learn-labels",
    ]

    /// Checks values a run cannot start with; the message names the setting (and its flag), so
    /// nothing is created for a run that could not run or could not be saved (an infinite
    /// learning rate used to end in a JSON encoding error after the run directory was made).
    public func validate() throws {
        func fail(_ key: String, _ m: String) throws {
            throw ConfigError(message: "\(key)\(Self.flags[key].map { " (\($0))" } ?? "") \(m)")
        }
        func positiveFinite(_ key: String, _ v: Double) throws {
            if !(v > 0 && v.isFinite) { try fail(key, "must be a positive finite number, got \(v)") }
        }
        func fraction(_ key: String, _ v: Double, open: Bool) throws {
            if !(v >= 0 && v < 1) || (open && v == 0) {
                try fail(key, "must be in \(open ? "(0, 1)" : "[0, 1)"), got \(v)")
            }
        }
        if innerSteps < 1 { try fail("innerSteps", "must be at least 1, got \(innerSteps)") }
        if batchSize < 1 { try fail("batchSize", "must be at least 1, got \(batchSize)") }
        if metaBatchSize < 1 { try fail("metaBatchSize", "must be at least 1, got \(metaBatchSize)") }
        if metaIterations < 0 { try fail("metaIterations", "must not be negative, got \(metaIterations)") }
        try positiveFinite("innerLearningRate", innerLearningRate)
        // Momentum (SGD), beta1 (Adam) and the averaging coefficient (RMSProp) are all in (0, 1):
        // log-parameterised, so 0 is unreachable, and 1 or more makes the inner loop diverge.
        try fraction("innerMomentum", innerMomentum, open: true)
        try positiveFinite("metaLearningRate", metaLearningRate)
        try fraction("metaBeta1", metaBeta1, open: false)
        try fraction("metaBeta2", metaBeta2, open: false)
        try positiveFinite("metaEpsilon", metaEpsilon)
        if !(metaLearningRateFinalFraction >= 0 && metaLearningRateFinalFraction <= 1) {
            try fail("metaLearningRateFinalFraction", "must be in [0, 1], got \(metaLearningRateFinalFraction)")
        }
        if checkpointBlock < 0 { try fail("checkpointBlock", "must be 0 (off) or positive, got \(checkpointBlock)") }
        if replayCacheMegabytes < 0 {
            try fail("replayCacheMegabytes", "must be 0 or positive, got \(replayCacheMegabytes)")
        }
        if !(finalLossWeight > 0 && finalLossWeight.isFinite) {
            try fail("finalLossWeight", "must be positive, got \(finalLossWeight)")
        }
        if intermediateLossEvery < 0 {
            try fail("intermediateLossEvery", "must be 0 (off) or positive, got \(intermediateLossEvery)")
        }
        if learnersPerIteration < 1 {
            try fail("learnersPerIteration", "must be at least 1, got \(learnersPerIteration)")
        }
        if let c = gradientClip { try positiveFinite("gradientClip", c) }
        if !(gan.weight >= 0 && gan.weight.isFinite) {
            try fail("gan.weight", "must be 0 (off) or positive, got \(gan.weight)")
        }
        if gan.weight > 0 && teacher != .gtn {
            try fail("gan.weight", "adds a GAN loss to a GTN's meta-loss; the \(teacher.rawValue) teacher has none")
        }
        if teacher == .gan && curriculum != .none {
            throw ConfigError(
                message: "the gan teacher draws fresh noise every step; it has no learned curriculum (curriculum "
                    + "\(curriculum.rawValue) asked for; use curriculum none)")
        }
        if learnLabels && (teacher != .gtn || !curriculum.isLearned || generator.kind != .conditional) {
            try fail(
                "learnLabels",
                "needs the gtn teacher with the conditional generator and a learned curriculum (the labels belong to "
                    + "its rows); got teacher \(teacher.rawValue), generator \(generator.kind.rawValue), curriculum "
                    + "\(curriculum.rawValue)")
        }
        if gan.channels < 1 { try fail("gan.channels", "must be at least 1, got \(gan.channels)") }
        try positiveFinite("gan.learningRate", gan.learningRate)
        try fraction("gan.beta1", gan.beta1, open: false)
        try fraction("gan.beta2", gan.beta2, open: false)
        if generator.image != learner.image {
            throw ConfigError(
                message: "generator image \(generator.image.dims) differs from learner image \(learner.image.dims)")
        }
        if generator.classes != learner.classes {
            throw ConfigError(
                message: "generator classes \(generator.classes) differ from learner classes \(learner.classes)")
        }
        if generator.image.height % 4 != 0 || generator.image.width % 4 != 0 {
            throw ConfigError(
                message:
                    "image side \(generator.image.height)x\(generator.image.width) must be a multiple of 4 for the "
                    + "generator"
            )
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "configuration: \(message)" }
}

extension GTNConfig {
    /// A config file read over `defaults`. Keys the file leaves out keep their defaults at every
    /// depth, so `{"learner": {"kind": "base"}}` changes the learner's kind and nothing else (a
    /// partial object used to fail with the decoder's "No value associated with key CodingKeys(...)").
    /// Errors name the key: an unknown one (with the known keys beside it), or a value of the
    /// wrong kind, which Foundation's decoder reports only as "not valid JSON" with no key when it
    /// is a number (1.5 for an integer, 1e400).
    public static func decode(file bytes: Data, over defaults: GTNConfig) throws -> GTNConfig {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: bytes) } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw ConfigError(message: "not valid JSON" + (detail.map { ": \($0)" } ?? ""))
        }
        guard let file = parsed as? [String: Any] else {
            throw ConfigError(message: "expected a JSON object of settings ({\"innerSteps\": 8, ...}) at the top level")
        }
        let base = try JSONSerialization.jsonObject(with: JSONEncoder().encode(defaults)) as! [String: Any]
        // Top-level keys are checked by init(from:) (it knows the optional ones the defaults may
        // not write, such as gradientClip); nested ones against the defaults' own objects.
        let merged = try overlay(file, on: base, path: [])
        do {
            return try decodeConfig(merged)
        } catch let e as DecodingError {
            if case .dataCorrupted(let c) = e, c.codingPath.isEmpty {
                // Find the setting the decoder choked on: apply the file's values one at a time.
                for (path, value) in leaves(file, path: []) {
                    let single = try overlay(nest(path, value), on: base, path: [])
                    if (try? decodeConfig(single)) == nil {
                        let shown =
                            (try? String(
                                decoding: JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]),
                                as: UTF8.self)) ?? "\(value)"
                        let example = leafValue(base, path).flatMap {
                            try? JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed])
                        }
                        .map { String(decoding: $0, as: UTF8.self) }
                        throw ConfigError(
                            message: "at \(path.joined(separator: ".")): \(shown) is not a valid value for this setting"
                                + (example.map { " (the default is \($0))" } ?? ""))
                    }
                }
            }
            var message = describe(e)
            if case .dataCorrupted(let c) = e,
                let choices = choices[c.codingPath.map(\.stringValue).joined(separator: ".")]
            {
                message += "; valid values: " + choices.joined(separator: ", ")
            }
            throw ConfigError(message: message)
        }
    }

    /// The settings that take one of a few names, with those names, for messages.
    static let choices: [String: [String]] = [
        "teacher": TeacherKind.allCases.map(\.rawValue), "curriculum": CurriculumKind.allCases.map(\.rawValue),
        "innerOptimizer": InnerOptimizer.allCases.map(\.rawValue), "learner.kind": LearnerKind.allCases.map(\.rawValue),
        "generator.kind": GeneratorKind.allCases.map(\.rawValue),
    ]

    static func decodeConfig(_ object: [String: Any]) throws -> GTNConfig {
        try JSONDecoder().decode(GTNConfig.self, from: JSONSerialization.data(withJSONObject: object))
    }

    /// `file` laid over `base`: objects merge key by key, everything else replaces.
    static func overlay(_ file: [String: Any], on base: [String: Any], path: [String]) throws -> [String: Any] {
        var out = base
        for (key, value) in file {
            if !path.isEmpty && base[key] == nil {
                throw ConfigError(
                    message:
                        "unknown key \"\((path + [key]).joined(separator: "."))\"; known keys "
                        + "of \(path.joined(separator: ".")): \(base.keys.sorted().joined(separator: ", "))"
                )
            }
            if let inner = value as? [String: Any], let baseInner = base[key] as? [String: Any] {
                out[key] = try overlay(inner, on: baseInner, path: path + [key])
            } else {
                out[key] = value
            }
        }
        return out
    }

    static func leaves(_ object: [String: Any], path: [String]) -> [([String], Any)] {
        object.keys.sorted().flatMap { key -> [([String], Any)] in
            if let inner = object[key] as? [String: Any] { return leaves(inner, path: path + [key]) }
            return [(path + [key], object[key]!)]
        }
    }

    static func nest(_ path: [String], _ value: Any) -> [String: Any] {
        path.reversed().reduce(value) { [$1: $0] } as! [String: Any]
    }

    static func leafValue(_ object: [String: Any], _ path: [String]) -> Any? {
        var v: Any? = object
        for key in path { v = (v as? [String: Any])?[key] }
        return v
    }
}

/// A decoding error as one line that names where it happened ("at learner.kind: ...").
func describe(_ e: DecodingError) -> String {
    switch e {
    case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
        let path = c.codingPath.map(\.stringValue).joined(separator: ".")
        return (path.isEmpty ? "" : "at \(path): ") + c.debugDescription
    @unknown default: return "\(e)"
    }
}
