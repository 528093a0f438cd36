import ArgumentParser
import Foundation
import GTN
import GTNData
import GTNIO
import GTNTensor
import Synchronization

@main
struct GTNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gtn",
        abstract: "Generative Teaching Networks: meta-train a generator of synthetic training data.",
        version: "gtn \(GTNVersion.string)",
        subcommands: [
            Train.self, Evaluate.self, Report.self, NAS.self, Export.self, Runs.self, Score.self, Classifier.self,
            RL.self, Tune.self,
        ])

    /// Switches OpenBLAS to capable kernels first where it fell back to weak ones (see `BLASKernels`).
    static func main() {
        BLASKernels.useCapableKernels()
        main(nil)
    }
}
