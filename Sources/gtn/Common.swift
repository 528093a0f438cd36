import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNTensor
import Synchronization

/// A problem with what a command was given (a file, a directory, a run, the data) found while it
/// runs, printed as "Error: ..." and nothing else. A ValidationError thrown from `run()` would
/// make ArgumentParser print the root command's usage ("Usage: gtn <subcommand>") beneath it,
/// which says nothing about the flag at fault; `validate()` keeps ValidationError, where the
/// usage of the subcommand is the right thing to show.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Ctrl-C (SIGINT) or SIGTERM (what batch schedulers send) asks the run to stop after the current
/// meta-iteration (a checkpoint is then written); a second signal exits at once (the previous
/// checkpoint is intact: writes are atomic). A stopped run exits with 128 + the signal's number
/// (130, 143), as a shell reports a process ended by that signal.
enum Interrupt {
    static let requested = Atomic<Int>(0)
    /// The signal that asked for the stop, 0 if none did.
    static let signalNumber = Atomic<Int32>(0)
    static func install() {
        for s in [SIGINT, SIGTERM] {
            signal(s) { sig in
                _ = Interrupt.signalNumber.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
                if Interrupt.requested.add(1, ordering: .relaxed).newValue >= 2 { _exit(128 + sig) }
                let msg =
                    "\ngtn: stopping at the end of this meta-iteration, or of the evaluation under way (signal again "
                    + "to quit now)\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
            }
        }
    }
    static var isRequested: Bool { requested.load(ordering: .relaxed) > 0 }
    /// 130 after SIGINT, 143 after SIGTERM.
    static var exitCode: ExitCode { ExitCode(128 + signalNumber.load(ordering: .relaxed)) }
}

func loadData(_ directory: String) throws -> DataSplits {
    do { return try DataSource.load(directory: directory) } catch let e as DataError {
        throw CommandError("--data \(directory): \(e)")
    }
}

/// The data of an existing run: the data set it recorded (data.json), unless `--data` names
/// another. Given data that is not the run's is used with a warning that says so; recorded data
/// that has changed on disk since is refused (a result on other data would look like the run's).
func loadData(forRun directory: String, explicit: String?) throws -> DataSplits {
    let recorded: DataRecord?
    do { recorded = try DataRecord.load(runDirectory: directory) } catch let e as ConfigError {
        throw CommandError(e.message)
    }
    let path = explicit ?? recorded?.path ?? DataSource.defaultDirectory
    let splits = try loadData(path)
    guard let recorded else { return splits }
    let now = DataRecord(path: path, splits: splits)
    if now.fingerprint != recorded.fingerprint {
        guard explicit != nil else {
            throw CommandError(
                "the data this run was trained on has changed: \(directory)/\(DataRecord.fileName) "
                    + "records \(recorded.summary), fingerprint \(recorded.fingerprint); the directory now "
                    + "holds \(now.summary), fingerprint \(now.fingerprint). Pass --data to use other data on purpose"
            )
        }
        let msg =
            "gtn: warning: --data \(now.summary) is not the data set this run was trained on (\(recorded.summary)); "
            + "the figures are for the data given\n"
        FileHandle.standardError.write(Data(msg.utf8))
    }
    return splits
}

extension LearnerKind: ExpressibleByArgument {}
extension TeacherKind: ExpressibleByArgument {}
extension GeneratorKind: ExpressibleByArgument {}
extension CurriculumKind: ExpressibleByArgument {}
extension InnerOptimizer: ExpressibleByArgument {}

/// `--data`, spelled and explained the same way by every command that reads a data set.
struct DataOption: ParsableArguments {
    @Option(
        help: .init(
            "Data directory: MNIST-format IDX files (plain or .gz) or CIFAR-10 binary batches. Default: the data "
                + "the run was trained on (data.json); for a new run \(DataSource.defaultDirectory)."))
    var data: String?
}
