import Foundation

/// The words of generated descriptions and messages, in the project's `locale` (`zh-CN` default, `en`).
enum AlertText {
    /// `value` with `decimals` (1…6) digits after the point, exactly as `String(format: "%.Nf")` writes it, without
    /// Foundation's formatter (a tenth of an alert storm's writer time went there). The rounding is done on the double's
    /// exact binary value (a tie rounds to even, as printf does); huge, tiny or non-finite values still use the formatter.
    static func number(_ value: Double, decimals: Int64) -> String {
        let digits = Int(min(max(decimals, 1), 6))
        let scale = powersOfTen[digits]
        let magnitude = abs(value)
        guard magnitude.isNormal, magnitude * Double(scale) < 1e15, magnitude.exponent < 52, magnitude.exponent > -60 else {
            return String(format: "%.\(digits)f", value)
        }
        // magnitude = significand / 2^shift exactly, with a 53-bit integer significand.
        let significand = UInt128(magnitude.significandBitPattern | (1 << 52))
        let shift = 52 - Int(magnitude.exponent)
        let scaled = significand * UInt128(scale)
        var whole = scaled >> shift
        let remainder = scaled - (whole << shift)
        let half = UInt128(1) << (shift - 1)
        if remainder > half || (remainder == half && whole & 1 == 1) { whole += 1 }
        let integer = UInt64(whole)
        let fraction = String(integer % scale)
        return (value.sign == .minus ? "-" : "") + String(integer / scale) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    private static let powersOfTen: [UInt64] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]

    static func withUnit(_ text: String, _ unit: String) -> String { unit.isEmpty ? text : "\(text) \(unit)" }

    /// `温度 36.2 °C 高于上限 35.0 °C` / `temp 36.2 °C above the upper limit 35.0 °C`.
    static func threshold(locale: String, name: String, unit: String, decimals: Int64, value: Double, threshold: Double, above: Bool) -> String {
        let reading = withUnit(number(value, decimals: decimals), unit)
        let limit = withUnit(number(threshold, decimals: decimals), unit)
        if locale == "en" { return "\(name) \(reading) \(above ? "above the upper limit" : "below the lower limit") \(limit)" }
        return "\(name) \(reading) \(above ? "高于上限" : "低于下限") \(limit)"
    }

    static func offline(locale: String, deviceName: String, minutes: Int64) -> String {
        locale == "en" ? "Device \(deviceName) has been offline for more than \(minutes) minutes"
            : "设备 \(deviceName) 离线超过 \(minutes) 分钟"
    }

    static func test(locale: String, deviceName: String) -> String {
        locale == "en" ? "Test alert for device \(deviceName): notifications work" : "设备 \(deviceName) 的测试告警：通知通道正常"
    }

    static func subject(locale: String, severity: String, projectName: String, description: String) -> String {
        let head = locale == "en" ? "[\(severity)] \(projectName)" : "【\(severity)】\(projectName)"
        let text = "\(head): \(description)"
        return text.count > 200 ? String(text.prefix(199)) + "…" : text
    }

    static func body(locale: String, projectName: String, deviceName: String, deviceID: String, description: String, time: String) -> String {
        if locale == "en" {
            return "Project: \(projectName)\nDevice: \(deviceName) (\(deviceID))\nAlert: \(description)\nTime: \(time)\n"
        }
        return "项目：\(projectName)\n设备：\(deviceName)（\(deviceID)）\n告警：\(description)\n时间：\(time)\n"
    }
}
