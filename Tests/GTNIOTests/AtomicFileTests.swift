import Foundation
@testable import GTNIO
import Testing

private func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "gtnio-atomic-" + UUID().uuidString
    try createDirectory(dir)
    return dir
}

private func listing(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
}

@Test func atomicWriteCreatesAndReplacesLeavingNoTemporaryFiles() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/out.bin"

    try writeAtomically(Data("first version, rather long".utf8), to: path)
    #expect(try readFile(path) == Data("first version, rather long".utf8))
    #expect(try listing(dir) == ["out.bin"])

    try writeAtomically(Data("second".utf8), to: path)
    #expect(try readFile(path) == Data("second".utf8))
    #expect(try listing(dir) == ["out.bin"])

    try writeAtomically(Data(), to: path)
    #expect(try readFile(path).isEmpty)
    #expect(try listing(dir) == ["out.bin"])

    // A larger payload.
    let big = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
    try writeAtomically(big, to: path)
    #expect(try readFile(path) == big)
    #expect(try listing(dir) == ["out.bin"])
}

@Test func temporaryFileGoesNextToTheDestination() {
    // (Relative paths are not exercised on disk: changing the working directory would disturb
    // tests running in parallel.)
    #expect(splitDirectory("plain.txt") == (".", "", "plain.txt"))
    #expect(splitDirectory("a/b/c.txt") == ("a/b", "a/b/", "c.txt"))
    #expect(splitDirectory("/c.txt") == ("/", "/", "c.txt"))
    #expect(splitDirectory("/x/") == ("/x", "/x/", ""))
}

@Test func atomicWriteFailuresNameThePathAndCleanUp() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }

    // Missing directory: the temporary file cannot even be created.
    let missing = dir + "/no/such/dir/file.bin"
    do {
        try writeAtomically(Data("x".utf8), to: missing)
        Issue.record("expected an error")
    } catch let e as FileError {
        #expect(e.path == missing)
        #expect(e.errno == ENOENT)
        #expect(e.description.contains(missing))
        #expect(e.description.hasSuffix("No such file or directory"))
    }

    // Destination is a non-empty directory: the rename fails after the temporary file was written,
    // and the temporary file must be gone.
    let target = dir + "/occupied"
    try createDirectory(target + "/inside")
    do {
        try writeAtomically(Data("x".utf8), to: target)
        Issue.record("expected an error")
    } catch let e as FileError {
        #expect(e.path == target)
        #expect(e.description.contains(target))
        #expect(e.description.contains("Is a directory") || e.description.contains("Directory not empty"),
                "\(e.description)")
    }
    #expect(try listing(dir) == ["occupied"])

    #expect(throws: FileError.self) { try writeAtomically(Data(), to: dir + "/") }
    #expect(throws: FileError.self) { try writeAtomically(Data(), to: "") }
}

@Test func createDirectoryMakesParentsAndRejectsFiles() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }

    let nested = dir + "/a/b/c"
    try createDirectory(nested)
    try createDirectory(nested)  // already there: fine
    try createDirectory(nested + "/")
    var isDirectory: ObjCBool = false
    #expect(FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory) && isDirectory.boolValue)

    let file = dir + "/a/file"
    try writeAtomically(Data("x".utf8), to: file)
    do {
        try createDirectory(file)
        Issue.record("expected an error")
    } catch let e as FileError {
        #expect(e.description == "cannot create directory \(file): it exists and is a file, not a directory")
    }
    do {
        try createDirectory(file + "/sub")
        Issue.record("expected an error")
    } catch let e as FileError {
        #expect(e.description == "cannot create directory \(file)/sub: \(file) exists and is a file, not a directory")
    }
}

@Test func readFileErrors() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: FileError(path: dir + "/x", errno: ENOENT, message: "cannot read \(dir)/x: No such file or directory")) {
        try readFile(dir + "/x")
    }
    #expect(throws: FileError(path: dir, errno: EISDIR, message: "cannot read \(dir): it is a directory")) {
        try readFile(dir)
    }
}
