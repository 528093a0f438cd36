import Foundation
import SystemZlib

/// gzip (RFC 1952) through zlib's inflate/deflate API, on whole in-memory buffers.
public enum Gzip {
    /// Whether `bytes` start with the gzip magic bytes 1f 8b. Data files are recognised by this,
    /// never by their extension.
    public static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Decompresses a gzip stream (several concatenated members are read as one, like `gzip -d`).
    /// `file` only names the source in errors.
    public static func decompress(_ bytes: [UInt8], file: String = "<memory>") throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError.corruptGzip(file: file, reason: "zlib could not initialise inflate")
        }
        defer { inflateEnd(&stream) }

        // The trailer's ISIZE is the uncompressed size mod 2^32: a good first guess for the buffer,
        // bounded so that a damaged trailer cannot make us allocate gigabytes up front (the buffer
        // grows by doubling when the guess is short).
        var capacity = 1 << 16
        if bytes.count >= 18 {
            let n = bytes.count
            let isize = Int(bytes[n - 4]) | Int(bytes[n - 3]) << 8 | Int(bytes[n - 2]) << 16 | Int(bytes[n - 1]) << 24
            capacity = max(capacity, min(isize, 64 * n))
        }
        var out = [UInt8](repeating: 0, count: capacity)
        var produced = 0

        try bytes.withUnsafeBufferPointer { input in
            guard let base = input.baseAddress else {
                throw DataError.corruptGzip(file: file, reason: "empty input")
            }
            var consumed = 0
            while true {
                if produced == out.count {
                    out.append(contentsOf: repeatElement(0, count: out.count))
                }
                let chunkIn = min(input.count - consumed, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                stream.avail_in = uInt(chunkIn)
                let rc: Int32 = out.withUnsafeMutableBufferPointer { output in
                    let room = min(output.count - produced, Int(UInt32.max))
                    stream.next_out = output.baseAddress! + produced
                    stream.avail_out = uInt(room)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return rc
                }
                consumed += chunkIn - Int(stream.avail_in)
                switch rc {
                case Z_STREAM_END:
                    // Another gzip member may follow; anything else after the stream is ignored.
                    let rest = input.count - consumed
                    if rest >= 2 && base[consumed] == 0x1f && base[consumed + 1] == 0x8b {
                        inflateReset(&stream)
                        continue
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    if consumed == input.count && produced < out.count {
                        throw DataError.corruptGzip(
                            file: file,
                            reason:
                                "compressed stream ends early after \(produced) decompressed bytes (file cut short?)")
                    }
                    continue  // output buffer was full: it grows at the top of the loop
                case Z_DATA_ERROR:
                    let msg = stream.msg.map { String(cString: $0) } ?? "invalid compressed data"
                    throw DataError.corruptGzip(file: file, reason: msg)
                case Z_MEM_ERROR:
                    throw DataError.corruptGzip(file: file, reason: "zlib ran out of memory")
                default:
                    let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                    throw DataError.corruptGzip(file: file, reason: msg)
                }
            }
        }
        out.removeLast(out.count - produced)
        return out
    }

    /// Compresses `bytes` into a single gzip member (no file name, modification time 0, so the output
    /// is a function of the input alone).
    public static func compress(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        let rc = deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "Gzip.compress: deflateInit2 failed (\(rc))")
        defer { deflateEnd(&stream) }
        precondition(bytes.count < Int(UInt32.max), "Gzip.compress: input of \(bytes.count) bytes is too large")
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        var input = bytes
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress  // nil for empty input, which zlib accepts
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress!
                stream.avail_out = uInt(outBuf.count)
                let rc = deflate(&stream, Z_FINISH)
                precondition(rc == Z_STREAM_END, "Gzip.compress: deflate did not finish (\(rc))")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        out.removeLast(out.count - produced)
        return out
    }
}

/// Whole-file reads and writes (POSIX), with errors that name the file.
enum FileBytes {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DataError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw DataError.unreadable(file: path, reason: "is a directory")
        }
        let size = Int(info.st_size)
        if size == 0 { return [] }
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            var done = 0
            while done < size {
                let r = Foundation.read(fd, buf.baseAddress! + done, size - done)
                if r < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    break
                }
                if r == 0 { break }
                done += r
            }
            count = done
        }
        if let failure { throw DataError.unreadable(file: path, reason: failure) }
        return bytes
    }

    /// Reads a file and, when it starts with the gzip magic bytes, decompresses it.
    static func readMaybeGzip(_ path: String) throws -> (bytes: [UInt8], decompressed: Bool) {
        let raw = try read(path)
        if Gzip.isCompressed(raw) { return (try Gzip.decompress(raw, file: path), true) }
        return (raw, false)
    }
}
