import Foundation

// The JSON of a safetensors header, written and read by hand rather than with Foundation's
// JSONSerialization, for three reasons the tests pin down (SafeTensorsTests): a header with a
// key twice must be refused (JSONSerialization keeps the last silently, and a file would then
// load other tensors than another reader sees); a syntax error is reported at its byte offset in
// the header ("unexpected byte 0x0 after the JSON value at byte 2"), which JSONSerialization does
// not give; and integers (shapes, data offsets) must be exact non-negative integers, not
// numbers that happen to be whole. Writing escapes strings as serde_json does (`jsonString`).

/// A string as serde_json writes it: `"` and `\` escaped, control characters as \b \f \n \r \t or
/// \u00XX, everything else (including non-ASCII) as raw UTF-8.
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case let c where c.value < 0x20:
            let hex = String(c.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A parsed JSON value. Object members keep their order and duplicates (the caller decides).
indirect enum JSONValue: CustomStringConvertible {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// A number written as an integer that fits in `Int`.
    case integer(Int)
    /// Any other number (fraction, exponent, or too large), kept as written.
    case number(String)
    case bool(Bool)
    case null

    var kind: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .integer, .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    var description: String {
        switch self {
        case let .object(m):
            return "{" + m.map { jsonString($0.0) + ":" + $0.1.description }.joined(separator: ",") + "}"
        case let .array(a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case let .string(s): return jsonString(s)
        case let .integer(i): return String(i)
        case let .number(s): return s
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}

/// A strict RFC 8259 parser over bytes, with a nesting limit (so that a hostile header cannot
/// exhaust the stack).
struct JSONParser {
    struct ParseError: Error {
        let reason: String
        let offset: Int
    }

    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private let maxDepth = 128

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// One value, surrounded by optional whitespace, and nothing else.
    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if i < bytes.count { throw error("unexpected \(describe(bytes[i])) after the JSON value") }
        return value
    }

    private func error(_ reason: String) -> ParseError { ParseError(reason: reason, offset: i) }

    private func describe(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16)
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        for b in literal.utf8 {
            guard i < bytes.count else { throw error("unexpected end of header in '\(literal)'") }
            guard bytes[i] == b else { throw error("invalid literal (expected '\(literal)')") }
            i += 1
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard i < bytes.count else { throw error("unexpected end of header, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let b: throw error("unexpected \(describe(b)), expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        i += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard i < bytes.count else { throw error("unexpected end of header inside an object") }
            guard bytes[i] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describe(bytes[i])), expected a key string")
            }
            let key = try parseString()
            skipWhitespace()
            guard i < bytes.count else { throw error("unexpected end of header inside an object") }
            guard bytes[i] == UInt8(ascii: ":") else { throw error("unexpected \(describe(bytes[i])), expected ':'") }
            i += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            guard i < bytes.count else { throw error("unexpected end of header inside an object") }
            switch bytes[i] {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"):
                i += 1
                return .object(members)
            case let b: throw error("unexpected \(describe(b)), expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard i < bytes.count else { throw error("unexpected end of header inside an array") }
            switch bytes[i] {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"):
                i += 1
                return .array(items)
            case let b: throw error("unexpected \(describe(b)), expected ',' or ']'")
            }
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("unexpected end of header in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit \(describe(b)) in a \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func parseString() throws -> String {
        let start = i
        i += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard i < bytes.count else {
                throw ParseError(reason: "unterminated string", offset: start)
            }
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let s = String(validating: utf8, as: UTF8.self) else {
                    throw ParseError(reason: "string is not valid UTF-8", offset: start)
                }
                return s
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw error("unexpected end of header in an escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else {
                            throw error("lone leading surrogate in a \\u escape")
                        }
                        i += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw error("invalid trailing surrogate in a \\u escape")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw error("lone trailing surrogate in a \\u escape")
                    }
                    utf8.append(contentsOf: Array(String(Unicode.Scalar(code)!).utf8))
                default:
                    i -= 2
                    throw error("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
            case 0x00..<0x20:
                throw error("unescaped control character (byte 0x\(String(b, radix: 16))) in a string")
            default:
                utf8.append(b)
                i += 1
            }
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = i
        var integral = true
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            return i - s
        }
        let intStart = i
        let n = digits()
        guard n > 0 else { throw error("invalid number: expected a digit") }
        if n > 1 && bytes[intStart] == UInt8(ascii: "0") {
            throw ParseError(reason: "invalid number: leading zero", offset: intStart)
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard digits() > 0 else { throw error("invalid number: expected a digit after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw error("invalid number: expected a digit in the exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral, let v = Int(text) { return .integer(v) }
        return .number(text)
    }
}
