import Core
import Foundation

/// The notification keys of DESIGN §5.4 (file or `IOT_…` environment, like every key). A channel with nothing
/// configured goes to the log transport, so a fresh install shows its alerts in `./data/notifications.log`.
public struct NotificationSettings: Sendable {
    public var smtp: SMTPSettings?
    public var smsURL: String?
    public var smsHeaders: [(String, String)] = []
    /// Extra trusted CA (PEM) for HTTPS to the SMS gateway and webhooks (`notifications.ca_file`).
    public var caFile: String?
    public var logPath: String
    public var maxPerReceiverPerHour: Int64
    public var maxAttempts: Int64
    /// The first retry's delay; each next one doubles (1, 2, 4 … min by default).
    public var retryBase: Double
    /// Each step of an exchange after connecting (TLS handshake, each write and read).
    public var timeout: Double
    /// The name lookup and TCP connect.
    public var connectTimeout: Double
    /// Which addresses webhooks may reach (`notifications.webhook.allowed_hosts`; public ones only by default).
    public var webhookPolicy: OutboundAddressPolicy
    /// Messages sent at once by one scheduler, and of them at most this many of one organization.
    public var maxInFlight: Int
    public var maxInFlightPerOrganization: Int

    public static let keys: [ConfigKey] = [
        ConfigKey("notifications.email.smtp_port", .integer(1...65_535)),
        ConfigKey("notifications.email.tls", .choice(["starttls", "implicit", "none"])),
        ConfigKey("notifications.max_per_receiver_per_hour", .integer(1...100_000)),
        ConfigKey("notifications.max_attempts", .integer(1...100)),
        ConfigKey("notifications.retry_base", .duration),
        ConfigKey("notifications.timeout", .duration),
        ConfigKey("notifications.connect_timeout", .duration),
        ConfigKey("notifications.max_in_flight", .integer(1...256)),
        ConfigKey("notifications.max_in_flight_per_organization", .integer(1...256)),
        ConfigKey("alerts.max_receivers_per_channel", .integer(1...10_000)),
    ]

    public init(config: Config) {
        let host = config.string("notifications.email.smtp_host", default: "")
        let tls = SMTPSecurity(rawValue: config.string("notifications.email.tls", default: "starttls")) ?? .starttls
        timeout = max(0.1, config.seconds("notifications.timeout", default: 5))
        connectTimeout = max(0.1, config.seconds("notifications.connect_timeout", default: 3))
        webhookPolicy = (try? OutboundAddressPolicy(allowedHosts: config.string("notifications.webhook.allowed_hosts", default: ""))) ?? .publicOnly
        maxInFlight = config.int("notifications.max_in_flight", default: 8)
        maxInFlightPerOrganization = config.int("notifications.max_in_flight_per_organization", default: 2)
        if !host.isEmpty {
            let username = config.string("notifications.email.username", default: "")
            let password = config.string("notifications.email.password", default: "")
            let from = config.string("notifications.email.from", default: "iot-platform@localhost")
            let caFile = config.string("notifications.email.ca_file", default: "")
            var port: Int?
            if let text = config["notifications.email.smtp_port"] { port = Int(text) }
            smtp = SMTPSettings(host: host, port: port, tls: tls, username: username.isEmpty ? nil : username,
                                password: password.isEmpty ? nil : password, from: from, caFile: caFile.isEmpty ? nil : caFile, timeout: timeout)
        }
        let sms = config.string("notifications.sms.url", default: "")
        smsURL = sms.isEmpty ? nil : sms
        if let text = config["notifications.sms.headers"], case .object(let object)? = try? JSONParser.parse(Array(text.utf8)) {
            smsHeaders = object.entries.compactMap { entry in entry.value.stringValue.map { (entry.key, $0) } }
        }
        let ca = config.string("notifications.ca_file", default: config.string("notifications.email.ca_file", default: ""))
        caFile = ca.isEmpty ? nil : ca
        let folder = (config.string("db.path", default: "./data/iot.db") as NSString).deletingLastPathComponent
        logPath = config.string("notifications.log_path", default: (folder.isEmpty ? "." : folder) + "/notifications.log")
        maxPerReceiverPerHour = Int64(config.int("notifications.max_per_receiver_per_hour", default: 20))
        maxAttempts = Int64(config.int("notifications.max_attempts", default: 6))
        retryBase = config.seconds("notifications.retry_base", default: 60)
    }
}
