import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNTensor

struct Classifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The frozen reference classifier that `gtn score` measures generated images with.",
        subcommands: [ClassifierTrain.self])
}

struct ClassifierTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a base_fc classifier on real data (SGD, momentum 0.9, cosine lr) and save it (safetensors).")

    @OptionGroup var dataOption: DataOption
    @Option(name: .shortAndLong, help: "The file to write (e.g. fashion-classifier.safetensors).") var output: String
    @Option(help: "Epochs over the training split.") var epochs = 2
    @Option(help: "Initial learning rate (cosine-annealed to 0).") var lr = 0.05
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive finite number, got \(lr)") }
    }

    func run() throws {
        setlinebuf(stdout)
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
        guard access(directory, W_OK) == 0 else {
            throw CommandError("--output \(output): the directory \(directory) does not exist or is not writable")
        }
        let splits = try loadData(dataOption.data ?? DataSource.defaultDirectory)
        print("gtn classifier: base_fc on \(splits.name), \(counted(epochs, "epoch")) of \(splits.train.count) images")
        let start = Date()
        let c = ReferenceClassifier.train(splits, epochs: epochs, learningRate: lr, seed: seed) { t, n in
            if t % 100 == 0 || t == n { FileHandle.standardError.write(Data("\rstep \(t)/\(n)".utf8)) }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        try c.save(to: output)
        print(
            String(
                format: "gtn classifier: validation accuracy %.2f%% (%.0f s); saved %@", 100 * c.validationAccuracy,
                Date().timeIntervalSince(start), output))
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Realism and mode coverage of a teacher's images, by a reference classifier (gtn classifier train).",
        discussion: """
            The images are the teacher's T x B training images of --episodes episodes (for a GTN its learned \
            curriculum, so more episodes only reorder it; for the GAN teacher fresh noise each). Printed and \
            written to score.json in the run: classifier score (the Inception score's formula: exp E KL(p(y|x) || \
            p(y)); up to the number of classes), the Fréchet distance of their penultimate features to as many \
            test images (FID's formula), the classes covered (predicted for at least a tenth of an even share) \
            and the entropy of the predicted classes, and the share classified as the label asked for. The \
            same figures for real test images are printed as the reference.
            """)

    @Argument(help: "A run directory (or its checkpoint.safetensors).") var runDirectory: String
    @Option(help: "The reference classifier (gtn classifier train).") var classifier: String
    @Option(help: "Episodes of T x B images to score (different seeds).") var episodes = 1
    @OptionGroup var dataOption: DataOption

    func validate() throws {
        if episodes < 1 { throw ValidationError("--episodes must be at least 1, got \(episodes)") }
    }

    func run() throws {
        let path = checkpointPath(runDirectory)
        let trainer = try Checkpoint.load(path: path)
        let reference: ReferenceClassifier
        do { reference = try ReferenceClassifier.load(path: classifier) } catch {
            throw CommandError("--classifier \(classifier): \(error)")
        }
        let splits = try loadData(
            forRun: URL(fileURLWithPath: path).deletingLastPathComponent().path, explicit: dataOption.data)
        guard reference.learner.image.dims == splits.imageShape, reference.learner.classes == splits.classes else {
            throw CommandError(
                "--classifier \(classifier): trained for images \(reference.learner.image.dims) with "
                    + "\(reference.learner.classes) classes; this run's data has \(splits.imageShape), \(splits.classes)"
            )
        }
        let scores: SampleScores
        do {
            scores = try SampleScores.measure(
                teacher: trainer, episodes: episodes, test: splits.test, classifier: reference)
        } catch let e as ConfigError { throw CommandError(e.message) }
        let n = min(scores.samples, splits.test.count)
        let real = splits.test.slice(0..<n)
        // The reference figures: real test images scored the same way, against the next n test images.
        let other = splits.test.slice(n..<min(2 * n, splits.test.count))
        var realScores = try SampleScores.measure(
            real.images, requested: real.labels, real: other.images, classifier: reference)
        if other.count < 2 { realScores.frechetDistance = nil }
        func line(_ name: String, _ s: SampleScores) -> String {
            String(
                format:
                    "%@: classifier score %.3f, Fréchet distance %@, classes covered %d of %d (entropy %.3f of %.3f),"
                    + " label agreement %@ (%d images)", name, s.classifierScore,
                s.frechetDistance.map { String(format: "%.3f", $0) } ?? "-", s.classesCovered, splits.classes,
                s.classEntropy, Foundation.log(Double(splits.classes)),
                s.labelAgreement.map { String(format: "%.2f%%", 100 * $0) } ?? "-", s.samples)
        }
        print(
            "gtn score: \(path) (\(trainer.config.teacher.rawValue) teacher, meta-iteration \(trainer.state.iteration)); "
                + String(format: "classifier %@ (validation %.2f%%)", classifier, 100 * reference.validationAccuracy))
        print(line("teacher", scores))
        print(line("real test images", realScores))
        let out = URL(fileURLWithPath: path).deletingLastPathComponent().path + "/score.json"
        struct Record: Codable {
            var iteration: Int
            var classifier: String
            var teacher: SampleScores
            var real: SampleScores
        }
        try writeAtomically(
            JSONEncoder.sorted.encode(
                Record(iteration: trainer.state.iteration, classifier: classifier, teacher: scores, real: realScores)),
            to: out)
        print("gtn score: figures in \(out)")
    }
}
