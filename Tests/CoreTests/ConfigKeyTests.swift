import Core
import Foundation
import Testing

@Suite struct ConfigKeyTests {
    let keys = [ConfigKey("a.count", .integer(1...10), default: "5", "a count"), ConfigKey("a.ttl", .duration, default: "1m", "a time"),
                ConfigKey("a.on", .boolean, default: "true", "a switch"), ConfigKey("a.level", .choice(["info", "error"]), default: "info", "a level"),
                ConfigKey("a.headers", .stringObject, default: "", "headers")]

    @Test func wellFormedAndAbsentValuesPass() {
        #expect(Config(["a.count": "3", "a.ttl": "10m", "a.on": "true", "a.level": "INFO"]).problems(keys).isEmpty)
        #expect(Config([:]).problems(keys).isEmpty)
    }

    @Test func everyMalformedValueIsNamed() {
        let problems = Config(["a.count": "eleven", "a.ttl": "10 minutes", "a.on": "maybe", "a.level": "loud"]).problems(keys)
        #expect(problems.count == 4)
        #expect(problems.contains { $0.hasPrefix("a.count=eleven") })
        #expect(problems.contains { $0.hasPrefix("a.ttl=10 minutes") })
        #expect(Config(["a.count": "11"]).problems(keys).count == 1)   // out of range
    }

    @Test func environmentSpellingsAreCheckedToo() throws {
        let config = try Config.load(file: nil, environment: ["IOT_A_COUNT": "x"])
        #expect(config.problems(keys).count == 1)
    }

    /// Issue 21 §6: a malformed JSON value (it used to be dropped silently) and a key of the file that nothing declares
    /// are named; unknown `IOT_…` variables are not (other tools share the prefix).
    @Test func malformedObjectsAndUnknownFileKeysAreNamed() throws {
        #expect(Config(["a.headers": "{\"X-Key\": \"k\"}"]).problems(keys).isEmpty)
        for bad in ["{nope", "[1]", "{\"X-Key\": 1}"] {
            #expect(Config(["a.headers": bad]).problems(keys).first?.hasPrefix("a.headers=") == true, "\(bad)")
        }
        let path = NSTemporaryDirectory() + "keys-\(UUID().uuidString).json"
        try #"{"a": {"count": 3, "cuont": 4}, "b": {"x": true}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try Config.load(file: path, environment: ["IOT_SOMETHING_ELSE": "1"])
        let problems = config.problems(keys)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("a.cuont: unknown configuration key") } && problems.contains { $0.hasPrefix("b.x: unknown") })
    }

    @Test func declaredKeysReadTheirDefaults() {
        let config = Config(["a.count": "7"])
        #expect(config.int(keys[0]) == 7 && config.seconds(keys[1]) == 60 && config.bool(keys[2]) && config.string(keys[3]) == "info")
        #expect(config.optionalString(keys[4]) == nil)
        // A malformed value reads as the default (validation reports it at start).
        #expect(Config(["a.count": "x", "a.on": "maybe"]).int(keys[0]) == 5)
    }
}
