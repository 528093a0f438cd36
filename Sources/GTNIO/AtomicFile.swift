import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file-system operation that failed. `description` names the path and, when the operating system
/// refused, its reason (`strerror`).
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path the caller asked about (the destination of a write, the directory to create, ...).
    public let path: String
    /// The `errno` the operating system reported, or nil when the problem was found by this code.
    public let errno: Int32?
    /// A complete, human-readable message, which names `path`.
    public let message: String

    public init(path: String, errno: Int32?, message: String) {
        self.path = path
        self.errno = errno
        self.message = message
    }

    /// An operation on `path` that the OS refused with `code`.
    static func os(_ path: String, _ what: String, _ code: Int32) -> FileError {
        FileError(path: path, errno: code, message: "\(what): \(String(cString: strerror(code)))")
    }

    public var description: String { message }
}

/// Splits a path into the directory that holds it (as a path for `open`) and the prefix to put
/// before a sibling's name: "a/b/c" -> ("a/b", "a/b/"), "c" -> (".", ""), "/c" -> ("/", "/").
func splitDirectory(_ path: String) -> (directory: String, prefix: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", "", path) }
    let prefix = String(path[...slash])
    let name = String(path[path.index(after: slash)...])
    let directory = slash == path.startIndex ? "/" : String(path[..<slash])
    return (directory, prefix, name)
}

/// Writes `data` to `path` so that readers (and a crash at any moment) see either the old content
/// or the new content in full, never a mixture or a truncated file.
///
/// The bytes go to a temporary file in the same directory (`.<name>.tmp-<pid>-<random>`), which is
/// fsynced, renamed over `path` (atomic on POSIX file systems), after which the directory itself is
/// fsynced so that the rename is durable. On failure the temporary file is removed and a
/// `FileError` names `path` and the OS error. A new file gets mode 0666 minus the umask, like any
/// newly created file (an existing file's mode is not carried over).
public func writeAtomically(_ data: Data, to path: String) throws {
    guard !path.isEmpty else {
        throw FileError(path: path, errno: nil, message: "cannot write file: empty path")
    }
    let (directory, prefix, name) = splitDirectory(path)
    guard !name.isEmpty else {
        throw FileError(path: path, errno: EISDIR, message: "cannot write \(path): path names a directory, not a file")
    }
    let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
    let temporary = "\(prefix).\(name).tmp-\(getpid())-\(token)"

    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    guard fd >= 0 else {
        throw FileError.os(path, "cannot write \(path): cannot create temporary file \(temporary)", errno)
    }
    // From here on, every failure closes (if still open) and removes the temporary file.
    var isOpen = true
    func fail(_ what: String, _ code: Int32) -> FileError {
        if isOpen { _ = close(fd) }
        _ = unlink(temporary)
        return FileError.os(path, "cannot write \(path): \(what)", code)
    }

    let writeError: Int32? = data.withUnsafeBytes { raw -> Int32? in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, min(raw.count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }
    if let code = writeError { throw fail("writing \(data.count) bytes to \(temporary) failed", code) }
    if fsync(fd) != 0 { throw fail("fsync of \(temporary) failed", errno) }
    isOpen = false
    if close(fd) != 0 { throw fail("closing \(temporary) failed", errno) }
    if rename(temporary, path) != 0 { throw fail("renaming \(temporary) over it failed", errno) }

    // The new content is in place; make the directory entry durable too. Some file systems do not
    // support fsync on directories (EINVAL): nothing more can be done there.
    let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard dirfd >= 0 else {
        throw FileError.os(path, "wrote \(path), but cannot open its directory \(directory) to fsync it", errno)
    }
    defer { _ = close(dirfd) }
    if fsync(dirfd) != 0 && errno != EINVAL {
        throw FileError.os(path, "wrote \(path), but fsync of its directory \(directory) failed", errno)
    }
}

/// Creates the directory `path` and any missing parents (like `mkdir -p`); does nothing when it
/// already exists as a directory. Throws a `FileError` when `path`, or one of its parents, exists
/// as something other than a directory, or when the OS refuses.
public func createDirectory(_ path: String) throws {
    guard !path.isEmpty else {
        throw FileError(path: path, errno: nil, message: "cannot create directory: empty path")
    }
    var prefix = path.hasPrefix("/") ? "/" : ""
    let components = path.split(separator: "/", omittingEmptySubsequences: true)
    for (i, component) in components.enumerated() {
        prefix += (i == 0 ? "" : "/") + component
        var info = stat()
        if stat(prefix, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { continue }
            let which = prefix == path || i == components.count - 1 ? "it" : prefix
            throw FileError(
                path: path, errno: ENOTDIR,
                message: "cannot create directory \(path): \(which) exists and is a file, not a directory")
        }
        if mkdir(prefix, 0o777) != 0 {
            let code = errno
            // Someone else may have created it in the meantime.
            if code == EEXIST, stat(prefix, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { continue }
            throw FileError.os(
                path, "cannot create directory \(path)" + (prefix == path ? "" : " (at \(prefix))"), code)
        }
    }
}

/// Reads a whole file. Throws a `FileError` naming `path` and the OS error.
public func readFile(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError.os(path, "cannot read \(path)", errno) }
    defer { _ = close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileError.os(path, "cannot read \(path)", errno) }
    if (info.st_mode & S_IFMT) == S_IFDIR {
        throw FileError(path: path, errno: EISDIR, message: "cannot read \(path): it is a directory")
    }
    // Read into a buffer of the file's size (plus one byte, to notice a file that grew), growing it
    // if the file turns out longer.
    var data = Data(count: max(Int(info.st_size), 0) + 1)
    var filled = 0
    while true {
        if filled == data.count { data.count *= 2 }
        let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileError.os(path, "cannot read \(path)", errno)
        }
        if n == 0 { break }
        filled += n
    }
    data.count = filled
    return data
}
