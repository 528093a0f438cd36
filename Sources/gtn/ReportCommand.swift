import ArgumentParser
import Foundation
import GTN
import GTNIO

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a self-contained HTML report (charts, samples, configuration) of one or several runs.",
        discussion: """
            The page needs no network access: charts are inline SVG, sample grids are embedded PNGs. \
            Runs still training can be reported on; rerun the command to refresh the page.
            """)

    @Argument(help: "Run directories (as written by gtn train).")
    var runs: [String]
    @Option(
        name: .shortAndLong,
        help: "HTML file to write (default for one run: RUN_DIR/report.html; required for several).")
    var output: String?

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory") }
        // With several runs there is no obvious home for the page: writing it into the first run's
        // directory would make it look like that run's own report.
        if runs.count > 1 && output == nil {
            throw ValidationError("several runs need --output FILE (where to write the comparison report)")
        }
    }

    func run() throws {
        let path = output ?? (runs[0].hasSuffix("/") ? runs[0] : runs[0] + "/") + "report.html"
        if TuneReport.handles(runs) {
            try writeAtomically(Data(try TuneReport.html(study: runs[0]).utf8), to: path)
        } else if RLReport.handles(runs) {
            try writeAtomically(Data(try RLReport.html(runs: runs).utf8), to: path)
        } else {
            try RunReport.write(runs: runs, to: path)
        }
        print(path)
    }
}
