import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO

/// The path of the checkpoint a command was given: the file itself, or a run directory's.
func checkpointPath(_ argument: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue {
        return argument + "/checkpoint.safetensors"
    }
    return argument
}

struct Export: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable { case idx, npz, png }

    static let configuration = CommandConfiguration(
        abstract: "Write a teacher's synthetic training set (T batches of B images and labels) for other tools.",
        discussion: """
            The data is that of one episode (--seed): the T batches, in step order, a fresh learner is taught \
            with. idx: MNIST's format (grey images only), train-images-idx3-ubyte, train-labels-idx1-ubyte and \
            train-steps-idx1-ubyte (the inner step of each image), pixels through the data's normalisation as \
            the real images were (values outside 0...255 are clipped; the share is printed). npz: NumPy's \
            archive with images (float32, normalised, as the learner sees them), targets (one-hot or the \
            generator's soft labels), labels, steps, mean and std, and the learned learning_rates and momenta \
            (the schedule the data was made for). png: one image per file, step-NN/IIIII-label-L.png.
            """)

    @Argument(help: "A run directory (or its checkpoint.safetensors).")
    var runDirectory: String
    @Option(name: .shortAndLong, help: "Directory to write (idx, png) or .npz file (npz).")
    var output: String
    @Option(help: "Format: idx, npz or png.") var format: Format = .npz
    @Option(help: "The episode's seed (its noise and curriculum order).") var seed: UInt64 = 0
    @OptionGroup var dataOption: DataOption
    var data: String? { dataOption.data }

    func run() throws {
        let path = checkpointPath(runDirectory)
        let trainer = try Checkpoint.load(path: path)
        if FileManager.default.fileExists(atPath: output) && format != .npz,
            let contents = try? FileManager.default.contentsOfDirectory(atPath: output), !contents.isEmpty
        {
            throw CommandError("--output \(output): not empty; give a new directory")
        }
        let set: SyntheticDataset
        do { set = try SyntheticDataset(teacher: trainer, seed: seed) } catch let e as ConfigError {
            throw CommandError(e.message)
        }
        let splits = try loadData(forRun: URL(fileURLWithPath: path).deletingLastPathComponent().path, explicit: data)
        if format == .npz { try createDirectory(URL(fileURLWithPath: output).deletingLastPathComponent().path) }
        var clipped: Double?
        do {
            switch format {
            case .idx: clipped = try set.writeIDX(to: output, normalization: splits.normalization)
            case .npz: try set.writeNPZ(to: output, normalization: splits.normalization)
            case .png: clipped = try set.writePNGs(to: output, normalization: splits.normalization)
            }
        } catch let e as ConfigError { throw CommandError("--format \(format.rawValue): \(e.message)") }
        let shape = set.images.shape.dropFirst().map(String.init).joined(separator: "x")
        print(
            "gtn export: \(set.count) images (\(counted(set.steps, "step")) of \(set.batchSize), \(shape)) -> \(output)"
        )
        if let clipped, clipped > 0 {
            print(
                String(
                    format: "gtn export: %.2f%% of the pixel values were outside 0...255 and were clipped",
                    100 * clipped))
        }
    }
}
