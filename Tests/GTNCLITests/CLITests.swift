import Foundation
import GTNData
import GTNIO
import Testing

/// The `gtn` binary beside the test bundle (SwiftPM builds both into one products directory).
let gtnBinary: String = {
    let bundle =
        Bundle.main.bundleURL.path.hasSuffix(".xctest")
        ? Bundle.main.bundleURL : URL(fileURLWithPath: CommandLine.arguments[0])
    return bundle.deletingLastPathComponent().appendingPathComponent("gtn").path
}()

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `gtn` with `arguments` and waits for it.
func gtn(_ arguments: [String]) throws -> CommandResult { try run(gtnBinary, arguments) }

/// Runs `executable` with `arguments` (and `environment` added to this process's) and waits for it.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    // Output goes to files, not pipes: a chatty child can never block on a full pipe.
    let base = NSTemporaryDirectory() + "gtn-cli-output-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer { for s in [".out", ".err"] { try? FileManager.default.removeItem(atPath: base + s) } }
    process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    process.standardError = FileHandle(forWritingAtPath: base + ".err")
    try process.run()
    process.waitUntilExit()
    func read(_ s: String) -> String {
        String(decoding: FileManager.default.contents(atPath: base + s) ?? Data(), as: UTF8.self)
    }
    return CommandResult(status: process.terminationStatus, stdout: read(".out"), stderr: read(".err"))
}

func temporaryDirectory(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "gtn-cli-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A tiny MNIST-format data set (8x8 images, 10 classes): `trainCount` training images (a sixth of
/// them become the validation split: 20 of the default 120) and 40 test images, with a learnable pattern (the class sets a row).
/// Writes them into `directory`, creating it if needed.
func writeTinyIDX(_ directory: String, trainCount: Int = 120) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    func images(_ n: Int, salt: Int) -> ([UInt8], [UInt8]) {
        var pixels = [UInt8]()
        var labels = [UInt8]()
        for i in 0..<n {
            let label = (i * 7 + salt) % 10
            labels.append(UInt8(label))
            for p in 0..<64 { pixels.append(p / 8 == label % 8 ? 220 : UInt8((p * 31 + i * 17 + salt) % 60)) }
        }
        return (pixels, labels)
    }
    let (train, trainLabels) = images(trainCount, salt: 1)
    let (test, testLabels) = images(40, salt: 2)
    for (name, bytes) in [
        ("train-images-idx3-ubyte", IDX.encodeImages(train, count: trainCount, rows: 8, cols: 8)),
        ("train-labels-idx1-ubyte", IDX.encodeLabels(trainLabels)),
        ("t10k-images-idx3-ubyte", IDX.encodeImages(test, count: 40, rows: 8, cols: 8)),
        ("t10k-labels-idx1-ubyte", IDX.encodeLabels(testLabels)),
    ] {
        try Data(bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }
}

/// The smallest run that exercises everything: T = 2, B = 10, two meta-iterations.
let tinyShapeFlags = ["--inner-steps", "2", "--batch-size", "10", "--meta-batch-size", "10", "--eval-examples", "20"]

/// `tinyShapeFlags` without the main job's tuning of the inner start: its 28 real-data learners
/// take ~100 s in a debug build, which every CLI test would pay (`mainJobTunesTheInnerStartByDefault`
/// runs it).
let tinyTrainFlags = tinyShapeFlags + ["--no-tune-inner-init"]

/// Writes the tiny data set into `dir`/data and trains one meta-iteration on it into `output`.
func trainTinyRun(in dir: String, output: String) throws -> CommandResult {
    try writeTinyIDX(dir + "/data")
    return try gtn(["train", "--data", dir + "/data", "-o", output, "--iterations", "1"] + tinyTrainFlags)
}

@Suite("gtn command line")
struct CLITests {
    @Test func versionIsPrinted() throws {
        let r = try gtn(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("gtn "), "\(r.stdout)")
        // Once, also where `gtn` re-executes itself to switch OpenBLAS's kernels (BLASKernels).
        #expect(r.stdout.split(separator: "\n").count == 1, "\(r.stdout)")
    }

    @Test func presetsAreListedAndAMisspeltOneIsNamed() throws {
        let list = try gtn(["train", "--list-presets"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("paper-mnist:") && list.stdout.contains("fast:"), "\(list.stdout)")
        #expect(list.stdout.contains("\"innerSteps\": 32"), "\(list.stdout)")
        // Only the fast preset tunes its start; the official config keeps its own.
        #expect(list.stdout.components(separatedBy: "tunes the initial inner lr").count == 2, "\(list.stdout)")
        // --tune-inner-init's help says the same, from the presets themselves (help text is wrapped).
        let help = try gtn(["train", "--help"])
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("paper-mnist: no, fast: yes"), "\(help.stdout)")
        let dir = temporaryDirectory("preset")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let typo = try gtn(["train", "--preset", "paper-mnsit", "-o", dir + "/run"])
        #expect(typo.status != 0)
        #expect(
            typo.stderr.contains("paper-mnsit") && typo.stderr.contains("valid values: paper-mnist"), "\(typo.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run"))
    }

    /// A problem found while a command runs is one line naming the flag, not the root command's
    /// usage ("Usage: gtn <subcommand>"), and nothing is created.
    @Test func errorsWhileRunningNameTheFlagWithoutTheRootUsage() throws {
        let dir = temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"{"learner": {"kind": "base", "width": 3}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/c.json"))
        let r = try gtn(["train", "--config", dir + "/c.json", "-o", dir + "/run"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--config") && r.stderr.contains("learner.width"), "\(r.stderr)")
        #expect(!r.stderr.contains("Usage: gtn <subcommand>"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run"))
    }

    /// The NAS teacher's options are checked before anything runs, each error naming its flag.
    @Test func nasTeacherOptionsAreValidated() throws {
        let dir = temporaryDirectory("nas-flags")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (arguments, flag) in [
            (["--train-gtn", "5", "--train-gradient-clip", "0"], "--train-gradient-clip"),
            (["--train-gtn", "5", "--train-gradient-clip", "nan"], "--train-gradient-clip"),
            (["--train-gtn", "5", "--train-pool", "-1"], "--train-pool"),
            (["--gtn", dir, "--train-pool", "4"], "--train-pool"),
            (["--train-gtn", "5", "--train-warmup", "-1"], "--train-warmup"),
            (["--gtn", dir, "--train-warmup", "4"], "--train-warmup"),
            (["--gtn", dir, "--train-gradient-clip", "3"], "--train-gradient-clip"),
            (["--train-gtn", "5", "--train-steps", "0"], "--train-steps"),
            (["--gtn", dir, "--train-steps", "16"], "--train-steps"),
        ] {
            let r = try gtn(["nas", "-o", dir + "/out"] + arguments)
            #expect(r.status != 0 && r.stderr.contains(flag), "\(arguments): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "\(arguments) created the output")
        }
    }

    /// `--train-steps T` sets the NAS teacher's inner steps (and so the proxy's default length); a
    /// teacher is not resumed with another T: the error names the flag and the teacher is kept as it was.
    @Test func nasTeacherStepsAreSetAndKept() throws {
        let dir = temporaryDirectory("nas-train-steps")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir + "/small")
        let small = try gtn(["nas", "--data", dir + "/small", "-o", dir + "/small-nas", "--train-gtn", "1"])
        #expect(small.status != 0 && small.stderr.contains("--train-gtn") && small.stderr.contains("meta-batch of 128"))
        try writeTinyIDX(dir + "/data", trainCount: 180)  // the teacher's meta-batch is the main job's 128
        let study = [
            "nas", "--data", dir + "/data", "-o", dir + "/nas", "--train-gtn", "1", "--architectures", "2",
            "--real-steps", "2", "--channels", "2", "--validation-examples", "9",
        ]
        let r = try gtn(study + ["--train-steps", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("T=3, B="), "\(r.stdout)")
        #expect(r.stdout.contains("proxy: 3 steps on GTN data"), "\(r.stdout)")
        // gtn runs names what the teacher was trained on: random cells, not the config's base_fc.
        let runs = try gtn(["runs", dir + "/nas"])
        let row = runs.stdout.split(separator: "\n").first { $0.hasPrefix("gtn ") }
        #expect(row?.contains("NAS cells") == true && row?.contains("base_fc") == false, "\(runs.stdout)")
        let checkpoint = dir + "/nas/gtn/checkpoint.safetensors"
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        let again = try gtn(study + ["--train-steps", "4"])
        #expect(
            again.status != 0 && again.stderr.contains("--train-steps 4") && again.stderr.contains("T=3"),
            "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == before)
    }

    /// `gtn train --resume DIR`, as the run prints it, goes on at the run's own cadence (here an
    /// evaluation every meta-iteration, where the command's default is every 25th); a flag given wins.
    @Test func resumedRunKeepsItsCadence() throws {
        let dir = temporaryDirectory("resume-cadence")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir + "/data")
        let run = dir + "/run"
        let first = try gtn(
            ["train", "--data", dir + "/data", "-o", run, "--iterations", "1", "--eval-every", "1"] + tinyTrainFlags)
        #expect(first.status == 0, "\(first.stderr)")
        func evaluated() throws -> [Int] {
            try String(contentsOfFile: run + "/evaluations.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["iteration"] as? Int
            }
        }
        let resumed = try gtn(["train", "--resume", run, "--iterations", "3"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try evaluated() == [1, 2, 3])
        let cadence =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/cadence.json")))
            as? [String: Int]
        #expect(
            cadence == ["evaluateEvery": 1, "checkpointEvery": 5, "samplesEvery": 25, "evaluationExamples": 20],
            "\(String(describing: cadence))")
        let changed = try gtn(["train", "--resume", run, "--iterations", "5", "--eval-every", "25"])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(try evaluated() == [1, 2, 3, 5])
    }

    /// The main job clips the meta-gradient at 10 unless told otherwise; `--gradient-clip 0` turns it off.
    @Test func mainJobClipsTheMetaGradientByDefault() throws {
        let dir = temporaryDirectory("default-clip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try trainTinyRun(in: dir, output: dir + "/clip")
        #expect(train.status == 0, "\(train.stderr)")
        func clip(_ run: String) throws -> Any? {
            let json = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
            return (json as? [String: Any])?["gradientClip"]
        }
        #expect(try clip(dir + "/clip") as? Double == 10)
        let off = try gtn(
            ["train", "--data", dir + "/data", "-o", dir + "/off", "--iterations", "1", "--gradient-clip", "0"]
                + tinyTrainFlags)
        #expect(off.status == 0, "\(off.stderr)")
        let value = try clip(dir + "/off")
        #expect(value == nil || value is NSNull, "\(String(describing: value))")
        let negative = try gtn(["train", "--data", dir + "/data", "-o", dir + "/negative", "--gradient-clip=-1"])
        #expect(
            negative.status != 0 && negative.stderr.contains("--gradient-clip")
                && negative.stderr.contains("0 for no clip"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/negative"))
    }

    /// The main job starts its inner lr and momentum where plain SGD does best on the validation
    /// split, tuned on fixed learners: the same start for every seed (so `gtn runs` groups them),
    /// recorded in config.json; off when asked, or when the start is named.
    @Test func mainJobTunesTheInnerStartByDefault() throws {
        let dir = temporaryDirectory("default-tuned-start")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func start(_ run: String) throws -> [Double?] {
            let json = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
            let c = json as? [String: Any]
            return [c?["innerLearningRate"] as? Double, c?["innerMomentum"] as? Double]
        }
        /// The start the tuning printed: "gtn: initial inner lr X, momentum Y (...)".
        func printed(_ stdout: String) -> [Double?] {
            guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("gtn: initial inner lr ") })
            else { return [] }
            let words = line.replacingOccurrences(of: ",", with: "").split(separator: " ")
            return [Double(words[4]), Double(words[6])]
        }
        try writeTinyIDX(dir + "/data")
        let first = try gtn(
            ["train", "--data", dir + "/data", "-o", dir + "/s0", "--iterations", "1"] + tinyShapeFlags)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("tuning the initial inner lr and momentum"), "\(first.stdout)")
        let tuned = try start(dir + "/s0")
        #expect(printed(first.stdout).count == 2 && tuned == printed(first.stdout), "\(tuned) \(first.stdout)")
        let other = try gtn(
            ["train", "--data", dir + "/data", "-o", dir + "/s7", "--iterations", "1", "--seed", "7"] + tinyShapeFlags)
        #expect(other.status == 0, "\(other.stderr)")
        #expect(try start(dir + "/s7") == tuned, "the tuned start depends on the seed")
        // Untuned: the official config's start, lr 0.02 and momentum 0.5 (GTNConfig's defaults).
        for (name, flags, expected) in [
            ("off", ["--no-tune-inner-init"], [0.02, 0.5]), ("named", ["--inner-lr", "0.07"], [0.07, 0.5]),
        ] {
            let r = try gtn(
                ["train", "--data", dir + "/data", "-o", dir + "/" + name, "--iterations", "1"] + tinyShapeFlags + flags
            )
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stdout.contains("tuning the initial inner lr"), "\(name): \(r.stdout)")
            #expect(try start(dir + "/" + name) == expected, "\(name)")
        }
    }

    /// `--proxy-validation-examples` moves only the cheap evaluators (the GTN proxy and its real-data
    /// baseline) to fewer validation images; the true score keeps `--validation-examples`. Each
    /// cache file's signature names the images its evaluator scored on (and `--real-seed` the true
    /// score's seed only).
    @Test func nasProxyScoresOnItsOwnValidationImages() throws {
        let dir = temporaryDirectory("nas-proxy-validation")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try trainTinyRun(in: dir, output: dir + "/gtn")
        #expect(train.status == 0, "\(train.stderr)")
        let bad = try gtn(["nas", "--gtn", dir + "/gtn", "-o", dir + "/bad", "--proxy-validation-examples", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--proxy-validation-examples"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))

        let nas = try gtn([
            "nas", "--gtn", dir + "/gtn", "-o", dir + "/nas", "--architectures", "2", "--real-steps", "2",
            "--channels", "2", "--validation-examples", "9", "--proxy-validation-examples", "4", "--real-seed", "5",
        ])
        #expect(nas.status == 0, "\(nas.stderr)")
        #expect(nas.stdout.contains("scored on 4 and 9 validation images"), "\(nas.stdout)")
        func signature(_ file: String) throws -> String {
            try String(contentsOfFile: dir + "/nas/" + file, encoding: .utf8).split(separator: "\n").first.map(
                String.init)
                ?? ""
        }
        #expect(try signature("proxy-cache.jsonl").contains(":4 "))
        #expect(try signature("baseline-cache.jsonl").contains(":4 "))
        #expect(try signature("real-cache.jsonl").contains(":9 "))
        // --real-seed moves the true score's seed only.
        #expect(try signature("real-cache.jsonl").contains(" seed=5 "))
        #expect(try signature("baseline-cache.jsonl").contains(" seed=0 "))
        #expect(try signature("proxy-cache.jsonl").contains(" seed=0 "))
        // --real-seeds 2: the truth is the mean of seeds 5 and 6; seed 5's trainings come from the cache.
        let two = try gtn([
            "nas", "--gtn", dir + "/gtn", "-o", dir + "/nas", "--architectures", "2", "--real-steps", "2",
            "--channels", "2", "--validation-examples", "9", "--proxy-validation-examples", "4", "--real-seed", "5",
            "--real-seeds", "2",
        ])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("mean of 2 trainings of 2 SGD steps"), "\(two.stdout)")
        let lines = try String(contentsOfFile: dir + "/nas/real-cache.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4 && lines.filter { $0.contains(" seed=6 ") }.count == 2, "\(lines)")
    }

    /// A tiny run end to end through the binary: train (one meta-iteration: the messages say
    /// "1 meta-iteration"), list it with `gtn runs`, export its data in the three formats.
    @Test func trainListAndExportATinyRun() throws {
        let dir = temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try trainTinyRun(in: dir, output: dir + "/runs/tiny")
        #expect(train.status == 0, "\(train.stderr)")
        #expect(
            train.stdout.contains("1 meta-iteration,") && !train.stdout.contains("1 meta-iterations"), "\(train.stdout)"
        )

        let runs = try gtn(["runs", dir + "/runs"])
        #expect(runs.status == 0, "\(runs.stderr)")
        let lines = runs.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("run") && lines[1].hasPrefix("tiny"), "\(runs.stdout)")
        #expect(lines.count == 2 && lines[1].contains("1/1") && lines[1].contains("@1"), "\(runs.stdout)")
        #expect(try gtn(["runs", dir + "/nothing-here"]).status != 0)

        // T x B = 2 x 10 images of 8x8.
        let npz = try gtn(["export", dir + "/runs/tiny", "-o", dir + "/export/tiny.npz"])
        #expect(
            npz.status == 0 && npz.stdout.contains("20 images (2 steps of 10, 1x8x8)"), "\(npz.stdout) \(npz.stderr)")
        let zip = try #require(FileManager.default.contents(atPath: dir + "/export/tiny.npz"))
        #expect(zip.starts(with: [0x50, 0x4B, 0x03, 0x04]))  // a zip archive
        #expect(try gtn(["export", dir + "/runs/tiny", "-o", dir + "/export/idx", "--format", "idx"]).status == 0)
        let images = try #require(FileManager.default.contents(atPath: dir + "/export/idx/train-images-idx3-ubyte"))
        #expect(
            Array(images.prefix(16)) == [0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 8, 0, 0, 0, 8]
                && images.count == 16 + 20 * 64)
        let steps = try #require(FileManager.default.contents(atPath: dir + "/export/idx/train-steps-idx1-ubyte"))
        #expect(Array(steps.dropFirst(8)) == Array(repeating: 0, count: 10) + Array(repeating: 1, count: 10))
        #expect(try gtn(["export", dir + "/runs/tiny", "-o", dir + "/export/png", "--format", "png"]).status == 0)
        let pngs = try FileManager.default.contentsOfDirectory(atPath: dir + "/export/png/step-02")
        #expect(pngs.count == 10 && pngs.allSatisfy { $0.hasSuffix(".png") && $0.contains("-label-") }, "\(pngs)")
        // Exporting into a directory that has files is refused.
        let again = try gtn(["export", dir + "/runs/tiny", "-o", dir + "/export/png", "--format", "png"])
        #expect(again.status != 0 && again.stderr.contains("not empty"), "\(again.stderr)")
    }

    /// `gtn runs` summarises evaluated runs that differ only in their seed (mean and sd over the
    /// runs), and keeps a run with another setting, one evaluated otherwise, or one not evaluated out
    /// of that group.
    @Test func runsGroupsTheSeedsOfOneRecipe() throws {
        let dir = temporaryDirectory("seeds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir + "/data")
        for (name, extra) in [
            // (0.07 is off the grid that tunes the others' start, so the recipes cannot coincide.)
            ("a", ["--seed", "1"]), ("b", ["--seed", "2"]), ("c", ["--seed", "3", "--inner-lr", "0.07"]),
            ("d", ["--seed", "4"]), ("e", ["--seed", "5"]), ("f", ["--seed", "6", "--inner-lr", "0.07"]),
        ] {
            let r = try gtn(
                ["train", "--data", dir + "/data", "-o", dir + "/runs/" + name, "--iterations", "1"] + tinyTrainFlags
                    + extra)
            #expect(r.status == 0, "\(r.stderr)")
            guard name != "d" else { continue }  // trained, never evaluated
            let learners = name == "e" ? "2" : "1"  // e: scored on more learners, so not comparable
            let e = try gtn(["evaluate", dir + "/runs/" + name, "--learners", learners, "--step-examples", "20"])
            #expect(e.status == 0, "\(e.stderr)")
        }
        let runs = try gtn(["runs", dir + "/runs"])
        #expect(runs.status == 0, "\(runs.stderr)")
        let groups = runs.stdout.split(separator: "\n").filter { $0.contains(" over ") && $0.contains(" runs: ") }
        #expect(groups.count == 2, "\(runs.stdout)")
        let line = String(groups.first ?? "")
        #expect(line.contains("over 2 runs: a ") && line.contains(", b "), "\(line)")
        #expect(!line.contains(", c ") && !line.contains(", d ") && !line.contains(", e "), "\(line)")
        #expect(groups.last?.contains("over 2 runs: c ") == true && groups.last?.contains(", f ") == true)
        // The two recipes differ in one setting (the inner lr), so they are compared over their seeds.
        let compared = runs.stdout.split(separator: "\n").filter { $0.contains(" vs ") && $0.contains("Welch t") }
        #expect(compared.count == 1, "\(runs.stdout)")
        #expect(compared.first?.contains("innerLearningRate 0.07 vs ") == true, "\(runs.stdout)")
        #expect(compared.first?.contains("2 vs 2 runs") == true, "\(runs.stdout)")
    }

    /// `mpirun -np 2 gtn train --learners-per-iteration 1` computes what one process with 2 learners
    /// per iteration does: the same learners (global indices), their meta-gradients summed by one
    /// allreduce. Checked on the run's files: every meta-loss, and every tensor of the checkpoint.
    @Test func mpiRanksAverageLikeLearnersInOneProcess() throws {
        let mpirun = try #require(
            ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile),
            "mpirun not found: scripts/setup.sh installs Open MPI (openmpi-bin)")
        let dir = temporaryDirectory("mpi")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir + "/data")
        let flags = ["--data", dir + "/data", "--iterations", "2", "--seed", "5"] + tinyTrainFlags
        // One thread per process in both: the kernels' summation order then cannot differ.
        let single = try run(
            gtnBinary, ["train", "-o", dir + "/single", "--learners-per-iteration", "2"] + flags,
            environment: ["GTN_THREADS": "1"])
        #expect(single.status == 0, "\(single.stderr)")
        // Root in CI containers: Open MPI refuses it unless told twice.
        let ranks = try run(
            mpirun,
            [
                "--allow-run-as-root", "--oversubscribe", "-np", "2", gtnBinary, "train", "-o", dir + "/mpi",
                "--learners-per-iteration", "1",
            ] + flags,
            environment: [
                "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "GTN_THREADS": "1",
            ])
        #expect(ranks.status == 0, "\(ranks.stdout)\n\(ranks.stderr)")
        #expect(ranks.stdout.contains("2 MPI ranks x 1 learner = 2 learners per meta-iteration"), "\(ranks.stdout)")
        func losses(_ run: String) throws -> [Double] {
            try String(contentsOfFile: dir + "/\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try #require(
                    (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["metaLoss"] as? Double)
            }
        }
        let (a, b) = (try losses("single"), try losses("mpi"))
        #expect(a.count == 2 && a.count == b.count)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-6 * max(abs(x), 1e-12), "meta-loss \(x) vs \(y)") }
        let p = try SafeTensorsFile.read(path: dir + "/single/checkpoint.safetensors")
        let q = try SafeTensorsFile.read(path: dir + "/mpi/checkpoint.safetensors")
        #expect(Set(p.tensors.keys) == Set(q.tensors.keys) && !p.tensors.isEmpty)
        for (name, t) in p.tensors {
            let u = try #require(q.tensors[name])
            let scale = max(t.scalars.map { abs($0) }.max() ?? 0, 1e-12)
            let worst = zip(t.scalars, u.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(t.shape == u.shape && worst <= 1e-6 * scale, "\(name): \(worst) of \(scale)")
        }

        // gtn evaluate: the learners shared out over the ranks give the figures of one process.
        let evaluateFlags = [
            "evaluate", dir + "/single", "--learners", "3", "--real-data-control", "--step-examples", "20",
        ]
        let one = try run(
            gtnBinary, evaluateFlags + ["--output", dir + "/one.json"], environment: ["GTN_THREADS": "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try run(
            mpirun,
            ["--allow-run-as-root", "--oversubscribe", "-np", "2", gtnBinary] + evaluateFlags + [
                "--output", dir + "/two.json",
            ],
            environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "GTN_THREADS": "1"])
        #expect(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        #expect(two.stdout.components(separatedBy: "learner ").count - 1 >= 3, "\(two.stdout)")
        var figures: [[String: Any]] = []
        for name in ["one", "two"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name).json"))
            figures.append(try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
        }
        for key in ["gtnFinal", "realFinal", "gtnPerStep", "realPerStep", "ensembleBySize"] {
            let a = figures[0][key] as? [Double]
            let b = figures[1][key] as? [Double]
            #expect(a != nil && a == b, "\(key): \(String(describing: a)) vs \(String(describing: b))")
        }
    }

    /// A rank that dies mid-run ends the job, and the last checkpoint stays readable.
    @Test func aRankThatDiesEndsTheJobAndLeavesTheCheckpoint() throws {
        let mpirun = try #require(
            ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile))
        let dir = temporaryDirectory("mpi-fault")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir + "/data")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments =
            [
                "--allow-run-as-root", "--oversubscribe", "-np", "2", gtnBinary, "train", "--data", dir + "/data", "-o",
                dir + "/run", "--iterations", "500", "--checkpoint-every", "1",
            ] + tinyTrainFlags
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "GTN_THREADS": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for two finished meta-iterations, then kill rank 1 (found by its MPI rank and our run's path).
        let metrics = dir + "/run/metrics.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline,
            ((try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 2
        {
            usleep(100_000)
        }
        let rankOne = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).first { pid in
            let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            let fields = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return fields.contains("OMPI_COMM_WORLD_RANK=1")
                && String(decoding: command, as: UTF8.self).contains(dir + "/run")
        }
        let pid = try #require(rankOne, "rank 1 not found")
        kill(pid, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        let saved = try SafeTensorsFile.read(path: dir + "/run/checkpoint.safetensors")
        #expect(!saved.tensors.isEmpty)
    }
}
