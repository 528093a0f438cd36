import Foundation
import GTNIO

/// A small JSON file a run keeps in its directory beside its checkpoint (`DataRecord`'s data.json,
/// `RunCadence`'s cadence.json, a NAS teacher's `TeacherSchedule`, architectures.json): written
/// atomically with sorted keys. A run made before the file existed has none (nil); one that does
/// not decode is an error that names the file.
public protocol RunFile: Codable {
    /// The file's name in the run directory.
    static var fileName: String { get }
    /// What the file holds, for that error: "not \(describedAs)".
    static var describedAs: String { get }
}

extension RunFile {
    /// The file of the run in `directory`, nil if the run has none.
    public static func load(runDirectory directory: String) throws -> Self? {
        let path = directory + "/" + fileName
        guard let bytes = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(Self.self, from: bytes) } catch {
            throw ConfigError(message: "\(path): not \(describedAs) (\(error))")
        }
    }

    public func write(runDirectory directory: String) throws {
        try writeAtomically(JSONEncoder.sorted.encode(self), to: directory + "/" + Self.fileName)
    }
}
