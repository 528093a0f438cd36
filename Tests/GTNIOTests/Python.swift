import Foundation

/// Python's standard library as an independent reader of what we write (no numpy, no
/// safetensors package): runs `script` with `argument` and returns its exit status and standard
/// output, or nil when python3 is absent (the cross-checks are then skipped).
func runPython(_ script: String, _ argument: String) throws -> (status: Int32, output: String)? {
    guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile) else {
        return nil
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script, argument]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}
