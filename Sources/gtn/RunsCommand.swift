import ArgumentParser
import Foundation
import GTN
import GTNNAS

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the runs in a directory: settings, progress and last accuracies.",
        discussion: """
            A run is a directory holding config.json (written by gtn train), found up to three levels down. \
            Columns: meta-iterations done of planned, the last meta-loss, the last evaluation of gtn train \
            (taught learner vs real-data control, test accuracy, at meta-iteration @N), and the mean of \
            gtn evaluate's learners where it ran. Runs that differ only in their seed (same data, every other \
            setting of config.json equal) and have been scored by gtn evaluate are then summarised together: \
            the mean and spread over the runs, i.e. how far two meta-trainings of one recipe differ.
            """)

    @Argument(help: "A directory of runs (or one run).")
    var directory = "runs"

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("\(directory): no such directory")
        }
        let found = RunSummary.runDirectories(under: directory)
        guard !found.isEmpty else {
            print("gtn runs: no runs in \(directory) (a run is a directory with config.json)")
            return
        }
        let root = directory.hasSuffix("/") ? directory : directory + "/"
        var rows = [
            [
                "run", "data", "teacher", "learner", "T", "B", "done", "meta-loss", "last eval (taught / real)",
                "gtn evaluate",
            ]
        ]
        var problems: [String] = []
        var evaluated: [(name: String, settings: String, mean: Double)] = []
        for path in found {
            let name = path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
            do {
                let s = try RunSummary(directory: path)
                if let e = s.evaluate { evaluated.append((name.isEmpty ? "." : name, s.settingsKey, e.mean)) }
                let eval =
                    s.lastEvaluation.map { e in
                        "\(percent(e.taught)) / \(percent(e.real)) @\(e.iteration)"
                    } ?? "-"
                let evaluate =
                    s.evaluate.map { e in
                        "\(percent(e.mean)) (\(counted(e.learners, "learner")))"
                            + (e.real.map { " vs \(percent($0))" } ?? "")
                    } ?? "-"
                // A NAS teacher (gtn nas --train-gtn) is meta-trained on random cell networks of the
                // search space; its config's learner is only the template of their sizes.
                let nasTeacher = FileManager.default.fileExists(atPath: path + "/" + TeacherSchedule.fileName)
                rows.append([
                    name.isEmpty ? "." : name, s.data ?? "?", s.teacher, nasTeacher ? "NAS cells" : s.learner,
                    s.innerSteps.map(String.init) ?? "?",
                    s.batchSize.map(String.init) ?? "?",
                    "\(s.iterationsDone)/\(s.metaIterations.map(String.init) ?? "?")",
                    s.lastMetaLoss.map { String(format: "%.4f", $0) } ?? "-", eval, evaluate,
                ])
            } catch {
                problems.append("\(name): \(error)")
            }
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            print(
                zip(row, widths).enumerated().map { c, cell in
                    // Text left, numbers right.
                    c < 4
                        ? cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: cell.1 - cell.0.count) + cell.0
                }.joined(separator: "  "))
        }
        printSeedGroups(evaluated)
        for p in problems { FileHandle.standardError.write(Data("gtn runs: \(p)\n".utf8)) }
    }

    /// One line per recipe with two or more evaluated seeds: gtn evaluate's means, their mean and
    /// sample standard deviation over the runs.
    func printSeedGroups(_ runs: [(name: String, settings: String, mean: Double)]) {
        let groups = Dictionary(grouping: runs, by: \.settings).values
            .filter { $0.count >= 2 }
            .sorted { $0[0].name < $1[0].name }
        guard !groups.isEmpty else { return }
        print("\nseeds of one recipe (runs equal but for the seed; gtn evaluate's mean per run, then over the runs):")
        for group in groups {
            let means = group.map(\.mean)
            let mean = means.reduce(0, +) / Double(means.count)
            let sd = (means.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(means.count - 1)).squareRoot()
            let each = group.map { "\($0.name) \(percent($0.mean))" }.joined(separator: ", ")
            print(
                "  \(percent(mean)) (sd \(String(format: "%.2f", 100 * sd)) points) over \(group.count) runs: \(each)")
        }
    }

    func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
}
