import Foundation

/// Config files name only what they change: every key is optional (defaults fill the rest), and an
/// unknown key is an error that names it, so a typo never silently trains the wrong thing.
extension GTNConfig {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case teacher, generator, learner, randomLearnerWidths, curriculum, innerSteps, batchSize, metaBatchSize
        case innerLearningRate, innerMomentum, metaLearningRate, metaBeta1, metaBeta2, metaEpsilon
        case metaLearningRateFinalFraction, metaIterations, gradientClip, checkpointBlock, replayCacheMegabytes, intermediateLossEvery, innerOptimizer, learnersPerIteration, seed
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
            throw DecodingError.dataCorruptedError(forKey: AnyKey(stringValue: unknown), in: all, debugDescription:
                "unknown key \"\(unknown)\"; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.teacher, &teacher); try read(.generator, &generator); try read(.learner, &learner)
        try read(.randomLearnerWidths, &randomLearnerWidths); try read(.curriculum, &curriculum)
        try read(.innerSteps, &innerSteps); try read(.batchSize, &batchSize); try read(.metaBatchSize, &metaBatchSize)
        try read(.innerLearningRate, &innerLearningRate); try read(.innerMomentum, &innerMomentum)
        try read(.metaLearningRate, &metaLearningRate); try read(.metaBeta1, &metaBeta1); try read(.metaBeta2, &metaBeta2)
        try read(.metaEpsilon, &metaEpsilon); try read(.metaLearningRateFinalFraction, &metaLearningRateFinalFraction)
        try read(.metaIterations, &metaIterations); try read(.checkpointBlock, &checkpointBlock); try read(.replayCacheMegabytes, &replayCacheMegabytes); try read(.seed, &seed)
        try read(.intermediateLossEvery, &intermediateLossEvery); try read(.learnersPerIteration, &learnersPerIteration); try read(.innerOptimizer, &innerOptimizer)
        if c.contains(.gradientClip) { gradientClip = try c.decodeIfPresent(Double.self, forKey: .gradientClip) }
    }

    /// The `gtn train` flag of each setting that has one, for messages.
    static let flags: [String: String] = [
        "innerSteps": "--inner-steps", "batchSize": "--batch-size", "metaBatchSize": "--meta-batch-size",
        "metaIterations": "--iterations", "innerLearningRate": "--inner-lr", "innerMomentum": "--inner-momentum",
        "metaLearningRate": "--meta-lr", "gradientClip": "--gradient-clip", "checkpointBlock": "--checkpoint-block",
        "replayCacheMegabytes": "--replay-cache-mb", "intermediateLossEvery": "--intermediate-losses",
        "learnersPerIteration": "--learners-per-iteration",
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
        if replayCacheMegabytes < 0 { try fail("replayCacheMegabytes", "must be 0 or positive, got \(replayCacheMegabytes)") }
        if intermediateLossEvery < 0 { try fail("intermediateLossEvery", "must be 0 (off) or positive, got \(intermediateLossEvery)") }
        if learnersPerIteration < 1 { try fail("learnersPerIteration", "must be at least 1, got \(learnersPerIteration)") }
        if let c = gradientClip { try positiveFinite("gradientClip", c) }
        if generator.image != learner.image { throw ConfigError(message: "generator image \(generator.image.dims) differs from learner image \(learner.image.dims)") }
        if generator.classes != learner.classes { throw ConfigError(message: "generator classes \(generator.classes) differ from learner classes \(learner.classes)") }
        if generator.image.height % 4 != 0 || generator.image.width % 4 != 0 {
            throw ConfigError(message: "image side \(generator.image.height)x\(generator.image.width) must be a multiple of 4 for the generator")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "configuration: \(message)" }
}
