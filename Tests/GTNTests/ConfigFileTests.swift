import Foundation
import GTN
import Testing

/// `gtn train --config FILE`: a file names only what it changes, at any depth, and every error
/// names the key at fault.
@Suite("Config files")
struct ConfigFileTests {
    var defaults: GTNConfig {
        var c = GTNConfig()
        c.learner = LearnerConfig(kind: .baseFC, image: ImageShape(channels: 1, height: 8, width: 8), classes: 4, conv1: 16)
        c.innerSteps = 8
        c.gradientClip = 1
        return c
    }

    func decode(_ json: String) throws -> GTNConfig {
        try GTNConfig.decode(file: Data(json.utf8), over: defaults)
    }

    func message(_ json: String) -> String {
        do { _ = try decode(json); return "" } catch let e as ConfigError { return e.message } catch { return "\(error)" }
    }

    @Test func partialNestedObjectKeepsTheRestOfTheDefaults() throws {
        let c = try decode(#"{"learner": {"kind": "base"}, "batchSize": 32}"#)
        #expect(c.learner.kind == .base)
        #expect(c.learner.image == defaults.learner.image && c.learner.classes == 4 && c.learner.conv1 == 16)
        #expect(c.batchSize == 32 && c.innerSteps == 8)
        #expect(c.generator == defaults.generator)
        let d = try decode(#"{"learner": {"image": {"height": 12}}}"#)
        #expect(d.learner.image == ImageShape(channels: 1, height: 12, width: 8))
    }

    @Test func explicitNullTurnsClippingOff() throws {
        #expect(try decode("{}").gradientClip == 1)
        #expect(try decode(#"{"gradientClip": null}"#).gradientClip == nil)
    }

    @Test func numbersOfTheWrongKindNameTheirKey() {
        // Foundation's decoder reports these as "The given data was not valid JSON." with no key.
        let m = message(#"{"innerSteps": 4, "metaIterations": 1.5}"#)
        #expect(m.contains("metaIterations") && m.contains("1.5") && !m.contains("not valid JSON"), "\(m)")
        let n = message(#"{"learner": {"conv1": 2.5}}"#)
        #expect(n.contains("learner.conv1") && n.contains("2.5"), "\(n)")
    }

    @Test func unknownKeysAndNamesAreErrorsThatSayWhatIsKnown() {
        let nested = message(#"{"learner": {"kind": "base", "width": 3}}"#)
        #expect(nested.contains("learner.width") && nested.contains("conv1"), "\(nested)")
        let top = message(#"{"innerStep": 3}"#)
        #expect(top.contains("innerStep") && top.contains("innerSteps"), "\(top)")
        let kind = message(#"{"learner": {"kind": "baseFC"}}"#)
        #expect(kind.contains("learner.kind") && kind.contains("base_fc"), "\(kind)")
    }

    @Test func brokenJSONAndNonObjectsAreSaidToBeSo() {
        #expect(message(#"{"innerSteps": 4"#).hasPrefix("not valid JSON"))
        #expect(message("[1, 2]").contains("JSON object"))
    }
}
