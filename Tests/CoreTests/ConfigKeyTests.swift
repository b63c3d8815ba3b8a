import Core
import Testing

@Suite struct ConfigKeyTests {
    let keys = [ConfigKey("a.count", .integer(1...10)), ConfigKey("a.ttl", .duration), ConfigKey("a.on", .boolean),
                ConfigKey("a.level", .choice(["info", "error"]))]

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
}
