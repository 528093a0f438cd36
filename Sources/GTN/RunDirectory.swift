import Foundation
import GTNIO

// Reading a run directory as `gtn train` writes it (config.json, data.json, metrics.jsonl,
// evaluations.jsonl, samples/, evaluate.json), for the report and for `gtn runs`. Errors name the
// file, the line and the key.

struct MetricRow {
    var iteration: Int
    var metaLoss, metaAccuracy, meanInnerLearningRate, meanInnerMomentum, metaLearningRate, gradientNorm,
        seconds: Double?
    /// GAN runs (teacher gan, --gan-weight): the discriminator's accuracy on the iteration's batches.
    var discriminatorAccuracy: Double? = nil
}

/// One row of scores.jsonl (`gtn train --classifier`).
struct ScoreRow {
    var iteration: Int
    var classifierScore, frechetDistance, classesCovered, labelAgreement: Double?
}

struct EvaluationRow {
    var iteration: Int
    var testAccuracy, realDataTestAccuracy, seconds: Double?
    var validationPerStep, realDataValidationPerStep: [Double]
}

struct SampleGrid {
    var iteration: Int
    var file: String
    var png: Data
    var width: Int
    var height: Int
    var dataURI: String { "data:image/png;base64," + png.base64EncodedString() }
}

/// What `gtn evaluate` wrote (evaluate.json).
struct EvaluateSummary {
    var iteration, learners, innerSteps, steps, batchSize: Int?
    var gtnPerStep, gtnPerStepSD, realPerStep, gtnFinal, realFinal, ensembleBySize: [Double]?
    /// The real-data control's constant lr and momentum, and whether they were tuned on validation.
    var realLearningRate, realMomentum: Double?
    var realTuned = false
}

/// One JSON object (a config, a JSON-lines row) with typed accessors whose errors name the file,
/// the line and the key.
struct JSONFields {
    let object: [String: Any]
    let path: String
    let line: Int?

    func error(_ key: String, _ problem: String) -> ReportError {
        ReportError(path: path, line: line, problem: "\"\(key)\" \(problem)")
    }

    /// nil when the key is absent or null: older and newer runs write different sets of fields.
    func number(_ key: String) throws -> Double? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !(value is String) else {
            throw error(key, "is not a number (got \(preview(value)))")
        }
        return n.doubleValue
    }

    func integer(_ key: String) throws -> Int? {
        guard let d = try number(key) else { return nil }
        guard d == d.rounded(), abs(d) < 1e15 else { throw error(key, "is not an integer (got \(d))") }
        return Int(d)
    }

    func numbers(_ key: String) throws -> [Double]? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let array = value as? [Any] else {
            throw error(key, "is not an array of numbers (got \(preview(value)))")
        }
        return try array.enumerated().map { i, element in
            guard let n = element as? NSNumber, !(element is String) else {
                throw error(key, "element \(i) is not a number (got \(preview(element)))")
            }
            return n.doubleValue
        }
    }

    func required<T>(_ key: String, _ value: T?) throws -> T {
        guard let value else { throw error(key, "is missing") }
        return value
    }
}

func preview(_ value: Any) -> String {
    let text = "\(value)".replacingOccurrences(of: "\n", with: " ")
    return text.count > 60 ? String(text.prefix(60)) + "…" : text
}

struct RunData {
    let directory: String
    /// The label's first part: the directory's name, or its path when names clash.
    var name: String
    let config: [String: Any]
    let configText: String
    let metrics: [MetricRow]
    let evaluations: [EvaluationRow]
    let scores: [ScoreRow]
    let samples: [SampleGrid]
    let evaluation: EvaluateSummary?
    /// Things worth telling the reader that are not errors (a row still being written).
    let notes: [String]
    /// The data set the run recorded (data.json); nil for runs made before runs recorded it.
    var data: DataRecord? = nil

    var teacher: String { config["teacher"] as? String ?? "gtn" }
    /// Only a GTN draws its noise from a curriculum; the other teachers have none.
    var curriculum: String { teacher == "gtn" ? config["curriculum"] as? String ?? "?" : "-" }
    var learner: [String: Any] { config["learner"] as? [String: Any] ?? [:] }
    var learnerKind: String { learner["kind"] as? String ?? "?" }
    var weightNorm: String {
        guard let v = learner["weightNorm"] else { return "?" }
        return (v as? Bool).map { $0 ? "on" : "off" } ?? "?"
    }
    var innerSteps: Int? { (config["innerSteps"] as? NSNumber)?.intValue }
    var metaIterations: Int? { (config["metaIterations"] as? NSNumber)?.intValue }
    var label: String { teacher == "gtn" ? "\(name) (\(teacher), \(curriculum))" : "\(name) (\(teacher))" }
    /// What the learner of an evaluation was trained on, in legends.
    var taughtName: String {
        switch teacher {
        case "gtn": return "GTN-taught"
        case "real": return "real data, meta-learned lr"
        default: return "\(teacher)-taught"
        }
    }
    var iterationsDone: Int { metrics.map { $0.iteration + 1 }.max() ?? 0 }

    static func load(_ directory: String) throws -> RunData {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ReportError(path: directory, problem: "no such run directory")
        }
        guard isDirectory.boolValue else {
            throw ReportError(
                path: directory, problem: "not a directory (expected a run directory written by gtn train)")
        }
        let base = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let configPath = base + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ReportError(
                path: configPath, problem: "missing: \(directory) is not a run directory written by gtn train")
        }
        let configData = try read(configPath)
        guard let config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
            throw ReportError(path: configPath, problem: "not a JSON object")
        }
        var notes: [String] = []
        let metrics = try jsonLines(base + "/metrics.jsonl", notes: &notes).map { f in
            MetricRow(
                iteration: try f.required("iteration", f.integer("iteration")),
                metaLoss: try f.number("metaLoss"), metaAccuracy: try f.number("metaAccuracy"),
                meanInnerLearningRate: try f.number("meanInnerLearningRate"),
                meanInnerMomentum: try f.number("meanInnerMomentum"),
                metaLearningRate: try f.number("metaLearningRate"), gradientNorm: try f.number("gradientNorm"),
                seconds: try f.number("seconds"), discriminatorAccuracy: try f.number("discriminatorAccuracy"))
        }
        let scores = try jsonLines(base + "/scores.jsonl", notes: &notes).map { f in
            let s = JSONFields(object: f.object["scores"] as? [String: Any] ?? [:], path: f.path, line: f.line)
            return ScoreRow(
                iteration: try f.required("iteration", f.integer("iteration")),
                classifierScore: try s.number("classifierScore"), frechetDistance: try s.number("frechetDistance"),
                classesCovered: try s.number("classesCovered"), labelAgreement: try s.number("labelAgreement"))
        }
        let evaluations = try jsonLines(base + "/evaluations.jsonl", notes: &notes).map { f in
            EvaluationRow(
                iteration: try f.required("iteration", f.integer("iteration")),
                testAccuracy: try f.number("testAccuracy"), realDataTestAccuracy: try f.number("realDataTestAccuracy"),
                seconds: try f.number("seconds"),
                validationPerStep: try f.numbers("validationPerStep") ?? [],
                realDataValidationPerStep: try f.numbers("realDataValidationPerStep") ?? [])
        }
        var data: DataRecord?
        do { data = try DataRecord.load(runDirectory: base) } catch {
            notes.append((error as? ConfigError)?.message ?? "\(error)")
        }
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return RunData(
            directory: directory, name: name, config: config,
            configText: String(decoding: configData, as: UTF8.self),
            metrics: metrics, evaluations: evaluations, scores: scores, samples: try sampleGrids(base + "/samples"),
            evaluation: try evaluateSummary(base + "/evaluate.json"), notes: notes, data: data)
    }

    static func read(_ path: String) throws -> Data {
        do { return try readFile(path) } catch let e as FileError {
            throw ReportError(
                path: path, problem: e.errno.map { "cannot read it (\(String(cString: strerror($0))))" } ?? e.message)
        }
    }

    /// The rows of a JSON-lines file; an absent file has none yet. A training process appends each
    /// row with one write, so an unterminated, unparsable last line is a row being written: it is
    /// left out (with a note) rather than failing a report of a live run.
    static func jsonLines(_ path: String, notes: inout [String]) throws -> [JSONFields] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = [UInt8](try read(path))
        var rows: [JSONFields] = []
        var start = 0
        var lineNumber = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            let line = bytes[start..<end]
            lineNumber += 1
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                if end == bytes.count {
                    notes.append("\(path): line \(lineNumber) is incomplete (still being written?) and was left out")
                    break
                }
                throw ReportError(
                    path: path, line: lineNumber,
                    problem: "not a JSON object: \(preview(String(decoding: line, as: UTF8.self)))")
            }
            rows.append(JSONFields(object: object, path: path, line: lineNumber))
        }
        return rows
    }

    static func sampleGrids(_ directory: String) throws -> [SampleGrid] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return []
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ReportError(path: directory, problem: "cannot list the directory")
        }
        // Only iteration-N.png: atomic writes leave hidden .iteration-N.png.tmp-* files in passing.
        var grids: [SampleGrid] = []
        for name in names where name.hasPrefix("iteration-") && name.hasSuffix(".png") {
            guard let iteration = Int(name.dropFirst("iteration-".count).dropLast(".png".count)) else { continue }
            let path = directory + "/" + name
            let png = try read(path)
            guard let size = pngSize(png) else { throw ReportError(path: path, problem: "not a PNG image") }
            grids.append(SampleGrid(iteration: iteration, file: path, png: png, width: size.width, height: size.height))
        }
        return grids.sorted { $0.iteration < $1.iteration }
    }

    /// Width and height from the IHDR chunk, which the PNG format requires to come first.
    static func pngSize(_ png: Data) -> (width: Int, height: Int)? {
        let b = [UInt8](png.prefix(24))
        guard b.count == 24, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
            b[12..<16] == [0x49, 0x48, 0x44, 0x52]
        else { return nil }
        let be = { (s: ArraySlice<UInt8>) in s.reduce(0) { $0 << 8 | Int($1) } }
        return (be(b[16..<20]), be(b[20..<24]))
    }

    static func evaluateSummary(_ path: String) throws -> EvaluateSummary? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: try read(path))) as? [String: Any] else {
            throw ReportError(path: path, problem: "not a JSON object")
        }
        let f = JSONFields(object: object, path: path, line: nil)
        return EvaluateSummary(
            iteration: try f.integer("iteration"), learners: try f.integer("learners"),
            innerSteps: try f.integer("innerSteps"), steps: try f.integer("steps"),
            batchSize: try f.integer("batchSize"), gtnPerStep: try f.numbers("gtnPerStep"),
            gtnPerStepSD: try f.numbers("gtnPerStepSD"), realPerStep: try f.numbers("realPerStep"),
            gtnFinal: try f.numbers("gtnFinal"), realFinal: try f.numbers("realFinal"),
            ensembleBySize: try f.numbers("ensembleBySize"), realLearningRate: try f.number("realLearningRate"),
            realMomentum: try f.number("realMomentum"), realTuned: object["realTuning"] is [String: Any])
    }
}

/// One line's worth of a run directory (`gtn runs`), read by the same code as the report.
public struct RunSummary: Sendable {
    public var directory: String
    /// "gtn, full", "real", "distillation".
    public var teacher: String
    public var learner: String
    public var data: String?
    public var innerSteps: Int?
    public var batchSize: Int?
    public var iterationsDone: Int
    public var metaIterations: Int?
    public var lastMetaLoss: Double?
    /// The last evaluation of `gtn train`: meta-iterations done, taught learner and real-data control test accuracy.
    public var lastEvaluation: (iteration: Int, taught: Double?, real: Double?)?
    /// `gtn evaluate`: mean test accuracy of its learners, and of its real-data controls.
    public var evaluate: (learners: Int, mean: Double, real: Double?)?
    /// config.json's settings but the seed, flattened to "learner.kind"-style paths, each value as
    /// JSON text: what `gtn runs` compares to find recipes that differ in one setting.
    public var settings: [String: String]
    /// The data set's name and how gtn evaluate scored the run (learners, steps, batch,
    /// meta-iteration): only runs equal in it compare.
    public var evaluationKey: String
    /// `evaluationKey` and every setting: runs with equal keys are seeds of one recipe measured alike,
    /// whose spread says how much a comparison of two recipes can be trusted.
    public var settingsKey: String {
        evaluationKey + " " + settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// The summary of the run in `directory`; errors name the file at fault.
    public init(directory: String) throws {
        let run = try RunData.load(directory)
        self.directory = directory
        teacher = run.teacher == "gtn" ? "gtn, \(run.curriculum)" : run.teacher
        learner = run.learnerKind
        data = run.data?.name
        innerSteps = run.innerSteps
        batchSize = (run.config["batchSize"] as? NSNumber)?.intValue
        iterationsDone = run.iterationsDone
        metaIterations = run.metaIterations
        lastMetaLoss = run.metrics.last?.metaLoss
        lastEvaluation = run.evaluations.last.map { ($0.iteration, $0.testAccuracy, $0.realDataTestAccuracy) }
        settings = Self.flattened(run.config.filter { $0.key != "seed" })
        evaluationKey = run.data?.name ?? "?"
        if let e = run.evaluation, let finals = e.gtnFinal, !finals.isEmpty {
            let real = e.realFinal.flatMap { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) }
            evaluate = (finals.count, finals.reduce(0, +) / Double(finals.count), real)
            let fields = [e.learners, e.steps, e.batchSize, e.iteration].map { $0.map(String.init) ?? "?" }
            evaluationKey += " evaluated: " + fields.joined(separator: " ")
        }
    }

    /// Nested objects become dotted paths; every other value its JSON text (sorted keys).
    static func flattened(_ object: [String: Any], prefix: String = "") -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in object {
            if let nested = value as? [String: Any] {
                out.merge(flattened(nested, prefix: prefix + key + "."), uniquingKeysWith: { a, _ in a })
            } else {
                let data = try? JSONSerialization.data(
                    withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
                out[prefix + key] = data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            }
        }
        return out
    }

    /// The run directories in and under `root` (to `depth` levels), sorted by path: directories
    /// holding a config.json.
    public static func runDirectories(under root: String, depth: Int = 3) -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        func visit(_ path: String, _ level: Int) {
            if fm.fileExists(atPath: path + "/config.json") {
                found.append(path)
                return
            }
            guard level < depth, let names = try? fm.contentsOfDirectory(atPath: path) else { return }
            for name in names.sorted() where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                let child = path + "/" + name
                if fm.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue {
                    visit(child, level + 1)
                }
            }
        }
        visit(root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root, 0)
        return found
    }
}
