import Core
import Devices
import DomainTestSupport
import Factors
import Testing

/// `FactorSpec.read` (DESIGN §5.3), `FactorTemplate.catalog` and `ControlAction` (DESIGN §5.2): pure validation.
@Suite struct FactorSpecTests {
    static let prefix = "d-1000-abcd"

    static func read(_ fields: [(String, JSON)], base: FactorSpec? = nil) throws(APIError) -> FactorSpec {
        var object = JSONObject()
        for (key, value) in fields { object[key] = value }
        return try FactorSpec.read(.object(object), base: base, prefix: prefix)
    }

    static func problems(_ fields: [(String, JSON)], base: FactorSpec? = nil) -> [String: String] {
        do {
            _ = try read(fields, base: base)
            return [:]
        } catch {
            #expect(error.status == 400)
            #expect(error.code == "VALIDATION_ERROR")
            return error.fields
        }
    }

    static let minimal: [(String, JSON)] = [("agri_id", .string("d-1000-abcd-01")), ("name", .string("temp")), ("register", .int(0))]

    @Test func createAppliesDefaults() throws {
        let spec = try Self.read(Self.minimal)
        #expect(spec.agriID == "d-1000-abcd-01")
        #expect(spec.name == "temp")
        #expect(spec.unit == "")
        #expect(spec.slaveID == 1)
        #expect(spec.functionCode == 3)
        #expect(spec.register == 0)
        #expect(spec.dataType == "int16")
        #expect(spec.byteOrder == "ABCD")
        #expect(spec.scale == 1 && spec.offset == 0 && spec.decimals == 0)
        #expect(spec.thresholdMin == nil && spec.thresholdMax == nil && !spec.hasThresholds)
        #expect(!spec.alarmEnabled && spec.sort == 0)
    }

    @Test func everyFieldIsReadAndRendered() throws {
        let spec = try Self.read(Self.minimal + [
            ("unit", .string("°C")), ("slave_id", .int(247)), ("function_code", .int(4)), ("register", .int(65_535)),
            ("data_type", .string("float32")), ("byte_order", .string("CDAB")), ("scale", .number(0.1)), ("offset", .number(-40)),
            ("decimals", .int(2)), ("threshold_min", .number(-5)), ("threshold_max", .number(30.5)), ("alarm_enabled", .bool(true)),
            ("sort", .int(7)),
        ])
        #expect(spec.unit == "°C" && spec.slaveID == 247 && spec.functionCode == 4 && spec.register == 65_535)
        #expect(spec.dataType == "float32" && spec.byteOrder == "CDAB" && spec.scale == 0.1 && spec.offset == -40 && spec.decimals == 2)
        #expect(spec.thresholdMin == -5 && spec.thresholdMax == 30.5 && spec.hasThresholds && spec.alarmEnabled && spec.sort == 7)
        #expect(spec.fields.keys == ["agri_id", "name", "unit", "slave_id", "function_code", "register", "data_type", "byte_order", "scale",
                                     "offset", "decimals", "threshold_min", "threshold_max", "alarm_enabled", "sort"])
        // The rendered fields read back to the same spec (export → import).
        #expect(try FactorSpec.read(.object(spec.fields), base: nil, prefix: Self.prefix) == spec)
        for type in FactorSpec.dataTypes { #expect(try Self.read(Self.minimal + [("data_type", .string(type))]).dataType == type) }
        for order in FactorSpec.byteOrders { #expect(try Self.read(Self.minimal + [("byte_order", .string(order))]).byteOrder == order) }
    }

    @Test func requiredFieldsOnCreate() {
        let problems = Self.problems([])
        #expect(Set(problems.keys) == ["agri_id", "name", "register"])
    }

    @Test func rangesAndEnums() {
        let cases: [(String, JSON)] = [
            ("slave_id", .int(0)), ("slave_id", .int(248)), ("slave_id", .number(1.5)), ("slave_id", .string("1")),
            ("function_code", .int(1)), ("function_code", .int(6)), ("function_code", .string("3")),
            ("register", .int(-1)), ("register", .int(65_536)),
            ("data_type", .string("int64")), ("data_type", .string("INT16")), ("data_type", .int(1)),
            ("byte_order", .string("ABDC")), ("byte_order", .string("abcd")),
            ("decimals", .int(7)), ("decimals", .int(-1)),
            ("scale", .string("x")), ("offset", .bool(true)), ("alarm_enabled", .string("yes")),
            ("threshold_min", .string("1")), ("threshold_max", .bool(false)),
            ("name", .string("")), ("name", .string(String(repeating: "n", count: 65))), ("unit", .string(String(repeating: "u", count: 17))),
        ]
        for (key, value) in cases {
            let problems = Self.problems(Self.minimal.filter { $0.0 != key } + [(key, value)])
            #expect(Array(problems.keys) == [key], "\(key) = \(value)")
        }
        // Boundaries that are valid.
        for (key, value) in [("slave_id", JSON.int(1)), ("slave_id", .int(247)), ("function_code", .int(3)), ("register", .int(65_535)),
                             ("decimals", .int(6)), ("threshold_min", .null), ("threshold_max", .null)] {
            #expect(Self.problems(Self.minimal.filter { $0.0 != key } + [(key, value)]).isEmpty, "\(key) = \(value)")
        }
    }

    @Test func agriIDMustBeUnderTheDevicePrefix() {
        for bad in ["d-2000-abcd-01", "x-01", "d-1000-abcd", "d-1000-abcd-A1", "d-1000-abcd-0 1", "d-1000-abcd/01", "",
                    "d-1000-abcd-" + String(repeating: "9", count: 200)] {
            #expect(Array(Self.problems([("agri_id", .string(bad)), ("name", .string("temp")), ("register", .int(0))]).keys) == ["agri_id"], "\(bad)")
        }
        for good in ["d-1000-abcd-01", "d-1000-abcd_temp", "d-1000-abcd-sub-02"] {
            #expect(Self.problems([("agri_id", .string(good)), ("name", .string("temp")), ("register", .int(0))]).isEmpty, "\(good)")
        }
    }

    @Test func thresholdsMustBeOrdered() throws {
        #expect(Self.problems(Self.minimal + [("threshold_min", .int(10)), ("threshold_max", .int(5))]).keys.contains("threshold_min"))
        #expect(Self.problems(Self.minimal + [("threshold_min", .int(5)), ("threshold_max", .int(5))]).isEmpty)
        // A partial update is checked against the stored other bound.
        let base = try Self.read(Self.minimal + [("threshold_min", .int(0)), ("threshold_max", .int(10))])
        #expect(Self.problems([("threshold_min", .int(11))], base: base).keys.contains("threshold_min"))
        #expect(Self.problems([("threshold_max", .int(-1))], base: base).keys.contains("threshold_min"))
        #expect(try Self.read([("threshold_max", .null)], base: base).thresholdMax == nil)
        #expect(try Self.read([("threshold_min", .int(11)), ("threshold_max", .null)], base: base).thresholdMin == 11)
    }

    @Test func unknownFieldsAreNamedAndReadOnlyFieldsIgnored() throws {
        let problems = Self.problems(Self.minimal + [("colour", .string("red")), ("devcie", .int(1))])
        #expect(Set(problems.keys) == ["colour", "devcie"])
        #expect(problems["colour"] == "unknown field")
        let spec = try Self.read(Self.minimal + [("id", .int(9)), ("device", .int(3)), ("created_at", .string("x")), ("updated_at", .string("y"))])
        #expect(spec.name == "temp")
        // Not an object.
        #expect(apiError { _ = try FactorSpec.read(.array([]), base: nil, prefix: Self.prefix) }?.code == "VALIDATION_ERROR")
    }

    @Test func everyProblemIsNamedAtOnce() {
        let problems = Self.problems([("agri_id", .string("elsewhere")), ("name", .string("t1")), ("register", .int(-4)),
                                      ("slave_id", .int(0)), ("function_code", .int(5)), ("data_type", .string("x")),
                                      ("byte_order", .string("y")), ("extra", .int(1))])
        #expect(Set(problems.keys) == ["agri_id", "register", "slave_id", "function_code", "data_type", "byte_order", "extra"])
    }

    @Test func partialUpdateKeepsTheRest() throws {
        let base = try Self.read(Self.minimal + [("unit", .string("°C")), ("threshold_max", .int(30))])
        let updated = try Self.read([("name", .string("temperature")), ("slave_id", .int(9))], base: base)
        #expect(updated.name == "temperature" && updated.slaveID == 9)
        #expect(updated.agriID == base.agriID && updated.unit == "°C" && updated.thresholdMax == 30 && updated.register == 0)
        #expect(try Self.read([], base: base) == base)
    }

    @Test func namesThatCollideWithTheLatestValueKeysAreRejected() {
        // The latest-value read renders {"agri_id": …, "<name>": value, "t": …}: these names would duplicate a key.
        for reserved in ["agri_id", "t"] {
            #expect(Array(Self.problems([("agri_id", .string("d-1000-abcd-01")), ("name", .string(reserved)), ("register", .int(0))]).keys) == ["name"])
        }
    }

    // MARK: - Catalog

    @Test func shippedCatalogParses() throws {
        let modules = try FactorTemplate.catalog(PlatformFixture.shippedCatalog())
        #expect(modules.map(\.model) == ["THM-30", "SOIL-4IN1", "EM-1P"])
        let thm = modules[0]
        #expect(thm.factors.map(\.name) == ["temp", "humidity"])
        let expected = try FactorTemplate.catalog(.object(["modules": .array([.object([
            "name": .string("x"), "model": .string("y"),
            "factors": .array([.object(["name": .string("temp"), "unit": .string("°C"), "function_code": .int(4), "register": .int(1),
                                        "data_type": .string("int16"), "scale": .number(0.1), "offset": .int(0), "decimals": .int(1),
                                        "sort": .int(1)])]),
        ])])]))
        #expect(thm.factors[0] == expected[0].factors[0])
        #expect(thm.factors[0].functionCode == 4 && thm.factors[0].unit == "°C" && thm.factors[0].scale == 0.1)
        #expect(modules[2].factors.allSatisfy { $0.dataType == "float32" && $0.byteOrder == "ABCD" })
    }

    @Test func catalogDefaultsAndRendering() throws {
        let modules = try FactorTemplate.catalog(.object(["modules": .array([.object([
            "name": .string("Minimal"), "model": .string("MIN-1"), "factors": .array([.object(["name": .string("level"), "register": .int(5)])]),
        ])])]))
        let template = try #require(modules.first?.factors.first)
        #expect(template.unit == "" && template.functionCode == 3 && template.dataType == "int16" && template.byteOrder == "ABCD")
        #expect(template.scale == 1 && template.offset == 0 && template.decimals == 0 && template.sort == 0)
        #expect(template.json["register"] == .int(5))
    }

    @Test func catalogProblemsAreNamedWithTheirPath() {
        func problems(_ value: JSON) -> [String: String] {
            do {
                _ = try FactorTemplate.catalog(value)
                return [:]
            } catch {
                #expect(error.code == "VALIDATION_ERROR")
                return error.fields
            }
        }
        #expect(problems(.array([])).keys.contains("modules"))
        #expect(problems(.object(["modules": .object([:])])).keys.contains("modules"))
        #expect(problems(.object(["modules": .array([])])).keys.contains("modules"))
        let template: JSON = .object(["name": .string("level"), "register": .int(1)])
        let bad = problems(.object(["modules": .array([
            .object(["name": .string("A"), "model": .string("M"), "factors": .array([template])]),
            .object(["name": .string("B"), "model": .string("M"), "factors": .array([template])]),
            .object(["name": .string("C"), "model": .string("N"), "factors": .array([])]),
            .object(["name": .string(""), "model": .string("O"), "factors": .array([template])]),
            .object(["name": .string("E"), "model": .string("P"), "extra": .int(1), "factors": .array([
                template,
                .object(["name": .string("u"), "register": .int(70_000), "function_code": .int(6), "data_type": .string("bool"),
                         "byte_order": .string("XYZW"), "decimals": .int(9), "color": .string("red")]),
                .string("not an object"),
            ])]),
            .int(5),
        ])]))
        #expect(bad["modules[1].model"] != nil)   // duplicate model
        #expect(bad["modules[2].factors"] != nil)
        #expect(bad["modules[3].name"] != nil)
        #expect(bad["modules[4].extra"] != nil)
        for key in ["register", "function_code", "data_type", "byte_order", "decimals", "color"] {
            #expect(bad["modules[4].factors[1].\(key)"] != nil, "\(key)")
        }
        #expect(bad["modules[4].factors[2]"] != nil)
        #expect(bad["modules[5]"] != nil)
        #expect(bad["modules[0].model"] == nil && bad["modules[4].factors[0].name"] == nil)
    }

    // MARK: - Control actions

    static func invalid(_ body: () throws -> ControlAction) -> [String: String]? {
        do {
            _ = try body()
            return nil
        } catch let error as DeviceError {
            #expect(error.status == 422)
            #expect(error.code == "INVALID_COMMAND")
            return error.fields
        } catch {
            return nil
        }
    }

    @Test func setSerialValidatesEveryParameter() throws {
        let good: JSON = .object(["baud_rate": .int(9600), "data_bits": .int(8), "stop_bits": .int(1), "parity": .string("NONE")])
        let action = try ControlAction.setSerial(good)
        #expect(action == .setSerial(baudRate: 9600, dataBits: 8, stopBits: 1, parity: "NONE"))
        #expect(action.commands.map(\.kind) == ["set-serial", "reboot"])
        #expect(action.commands.map(\.text) == ["NAT@AT+UART1=9600,8,1,NONE,NFC", "NAT@AT+Z"])
        #expect(action.requiredCapability == "SUPPORTS_REBOOT")
        for baud in ControlAction.baudRates {
            for parity in ["NONE", "ODD", "EVEN"] {
                let body: JSON = .object(["baud_rate": .int64(baud), "data_bits": .int(7), "stop_bits": .int(2), "parity": .string(parity)])
                #expect(try ControlAction.setSerial(body).commands[0].text == "NAT@AT+UART1=\(baud),7,2,\(parity),NFC")
            }
        }
        func with(_ key: String, _ value: JSON?) -> JSON {
            guard case .object(var object) = good else { return good }
            object[key] = value
            return .object(object)
        }
        let cases: [(String, JSON?)] = [
            ("baud_rate", .int(9601)), ("baud_rate", .int(0)), ("baud_rate", .string("9600")), ("baud_rate", nil), ("baud_rate", .number(9600.5)),
            ("data_bits", .int(6)), ("data_bits", .int(9)), ("data_bits", nil),
            ("stop_bits", .int(0)), ("stop_bits", .int(3)), ("stop_bits", .number(1.5)),
            ("parity", .string("none")), ("parity", .string("MARK")), ("parity", .int(0)), ("parity", nil),
        ]
        for (key, value) in cases {
            #expect(Self.invalid { try ControlAction.setSerial(with(key, value)) }.map { Array($0.keys) } == [key], "\(key) = \(String(describing: value))")
        }
        let all = Self.invalid { try ControlAction.setSerial(.object(["extra": .int(1)])) }
        #expect(all.map { Set($0.keys) } == ["baud_rate", "data_bits", "stop_bits", "parity", "extra"])
        #expect(Self.invalid { try ControlAction.setSerial(.array([])) } != nil)
    }

    @Test func setTCPAcceptsHostnamesAndIPv4Only() throws {
        func tcp(_ host: String, _ port: JSON = .int(1883)) throws -> ControlAction {
            try ControlAction.setTCP(.object(["host": .string(host), "port": port]))
        }
        #expect(try tcp("iot.example.com").commands.map(\.text) == ["NAT@AT+SOCK1A=TCPC,iot.example.com,1883"])
        #expect(try tcp("iot.example.com").commands.map(\.kind) == ["set-tcp"])
        #expect(try tcp("iot.example.com").requiredCapability == nil)
        #expect(try tcp("10.0.0.254", .int(1)).commands[0].text == "NAT@AT+SOCK1A=TCPC,10.0.0.254,1")
        #expect(try tcp("localhost", .int(65_535)).commands[0].text == "NAT@AT+SOCK1A=TCPC,localhost,65535")
        #expect(try tcp("a-b.c-d.io").commands.count == 1)
        let injections = ["iot.example.com,1883\r\nNAT@AT+Z", "a,b", "a b", "host;x", "a\"b", "iot.example.com\n", "", "-lead.com", "trail-.com",
                          "a..b", ".a", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.", "exämple.com", "a_b.com", "a=b", "AT+Z?",
                          String(repeating: "a", count: 64) + ".com", Array(repeating: "abcdefgh", count: 32).joined(separator: ".")]
        for host in injections {
            #expect(Self.invalid { try tcp(host) }.map { Array($0.keys) } == ["host"], "\(host.debugDescription)")
        }
        for port: JSON in [.int(0), .int(65_536), .int(-1), .string("1883"), .number(80.5), .null] {
            #expect(Self.invalid { try tcp("example.com", port) }.map { Array($0.keys) } == ["port"], "\(port)")
        }
        #expect(Self.invalid { try ControlAction.setTCP(.object(["host": .string("x.com"), "port": .int(1), "mode": .string("udp")])) }
            .map { Array($0.keys) } == ["mode"])
        #expect(try ControlAction.reboot(.object([:])) == .reboot)
        #expect(Self.invalid { try ControlAction.reboot(.object(["force": .bool(true)])) }.map { Array($0.keys) } == ["force"])
        #expect(Self.invalid { try ControlAction.reboot(.string("now")) } != nil)
        #expect(ControlAction.reboot.commands.map(\.text) == ["NAT@AT+Z"])
        #expect(ControlAction.reboot.requiredCapability == "SUPPORTS_REBOOT")
    }
}
