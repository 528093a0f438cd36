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
        var evaluated: [Evaluated] = []
        for path in found {
            let name = path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
            do {
                let s = try RunSummary(directory: path)
                if let e = s.evaluate { evaluated.append((name.isEmpty ? "." : name, s, e.mean)) }
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
        let groups = seedGroups(evaluated)
        printSeedGroups(groups)
        printOneSettingComparisons(groups)
        for p in problems { FileHandle.standardError.write(Data("gtn runs: \(p)\n".utf8)) }
    }

    /// An evaluated run: its name under the root, its summary, gtn evaluate's mean.
    typealias Evaluated = (name: String, summary: RunSummary, mean: Double)

    /// Sets of two or more evaluated runs equal but for the seed (and scored alike), by first name.
    func seedGroups(_ runs: [Evaluated]) -> [[Evaluated]] {
        Dictionary(grouping: runs, by: \.summary.settingsKey).values
            .filter { $0.count >= 2 }
            .sorted { $0[0].name < $1[0].name }
    }

    /// Mean and sample standard deviation of gtn evaluate's means over a group's runs.
    func meanAndSD(_ group: [Evaluated]) -> (mean: Double, sd: Double) {
        let means = group.map(\.mean)
        return (mean(means), sampleStandardDeviation(means))
    }

    /// One line per recipe with two or more evaluated seeds: gtn evaluate's means, their mean and
    /// sample standard deviation over the runs.
    func printSeedGroups(_ groups: [[Evaluated]]) {
        guard !groups.isEmpty else { return }
        print("\nseeds of one recipe (runs equal but for the seed; gtn evaluate's mean per run, then over the runs):")
        for group in groups {
            let (mean, sd) = meanAndSD(group)
            let each = group.map { "\($0.name) \(percent($0.mean))" }.joined(separator: ", ")
            print(
                "  \(percent(mean)) (sd \(String(format: "%.2f", 100 * sd)) points) over \(group.count) runs: \(each)")
        }
    }

    /// For each two recipes with seeds, scored alike and differing in exactly one setting: the
    /// difference of their means over seeds, its standard error and Welch's t. Between meta-training
    /// runs of one recipe the spread is often larger than the effect of a setting, and this is the
    /// comparison a reviewer would ask for.
    func printOneSettingComparisons(_ groups: [[Evaluated]]) {
        var lines: [String] = []
        for (i, a) in groups.enumerated() {
            for b in groups[(i + 1)...] where a[0].summary.evaluationKey == b[0].summary.evaluationKey {
                let (sa, sb) = (a[0].summary.settings, b[0].summary.settings)
                let differing = Set(sa.keys).union(sb.keys).filter { sa[$0] != sb[$0] }.sorted()
                guard differing.count == 1, let key = differing.first else { continue }
                let (ma, mb) = (meanAndSD(a), meanAndSD(b))
                let se = (ma.sd * ma.sd / Double(a.count) + mb.sd * mb.sd / Double(b.count)).squareRoot()
                let diff = mb.mean - ma.mean
                let t = se > 0 ? String(format: "%.2f", diff / se) : "-"
                lines.append(
                    "  \(key) \(sb[key] ?? "unset") vs \(sa[key] ?? "unset"): "
                        + String(format: "%+.2f points (standard error %.2f, Welch t ", 100 * diff, 100 * se) + t
                        + "; \(b.count) vs \(a.count) runs, \(percent(mb.mean)) vs \(percent(ma.mean)))")
            }
        }
        guard !lines.isEmpty else { return }
        print("\nrecipes that differ in one setting (difference of the means over seeds):")
        for line in lines { print(line) }
    }

    func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
}
