import Core
import Foundation
import Platform

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
    /// Seconds a scheduler's claim on a message lasts unless renewed (`scheduler.lease`); renewed every third of it
    /// while the message is being sent, so a killed scheduler's message is sent by another after about this long.
    public var lease: Int64

    public static let smtpHost = ConfigKey("notifications.email.smtp_host", .text, default: "", "SMTP server; empty = e-mail goes to the log transport")
    public static let smtpPort = ConfigKey("notifications.email.smtp_port", .integer(1...65_535), default: nil, shown: "587 / 465 / 25",
                                           "SMTP port; by default 587, 465 or 25 by `tls`")
    public static let smtpTLS = ConfigKey("notifications.email.tls", .choice(["starttls", "implicit", "none"]), default: "starttls",
                                          "`starttls` (required, never falls back to plain), `implicit` (port 465), `none`")
    public static let smtpUsername = ConfigKey("notifications.email.username", .text, default: "", "AUTH PLAIN or LOGIN user, when set")
    public static let smtpPassword = ConfigKey("notifications.email.password", .text, default: "", "its password")
    public static let smtpFrom = ConfigKey("notifications.email.from", .text, default: "iot-platform@localhost", "sender address")
    public static let smtpCAFile = ConfigKey("notifications.email.ca_file", .text, default: "",
                                             "extra trusted CA (PEM) besides the system's; certificates and host names are always verified")
    public static let smsURL = ConfigKey("notifications.sms.url", .text, default: "", "SMS gateway: POST `{\"to\", \"text\"}` as JSON; empty = the log transport")
    public static let smsHeaders = ConfigKey("notifications.sms.headers", .stringObject, default: "",
                                             "JSON object of extra headers, e.g. `{\"X-Api-Key\": \"…\"}`")
    public static let caFileKey = ConfigKey("notifications.ca_file", .text, default: nil, shown: "`email.ca_file`",
                                            "extra trusted CA for HTTPS to the SMS gateway and webhooks")
    public static let logPathKey = ConfigKey("notifications.log_path", .text, default: nil, shown: "<db folder>/notifications.log",
                                             "the log transport's file (one JSON line per message)")
    public static let maxPerReceiverPerHourKey = ConfigKey("notifications.max_per_receiver_per_hour", .integer(1...100_000), default: "20",
                                                           "more messages to one receiver within an hour are `suppressed`")
    public static let maxAttemptsKey = ConfigKey("notifications.max_attempts", .integer(1...100), default: "6", "tries before a message is `failed`")
    public static let retryBaseKey = ConfigKey("notifications.retry_base", .duration, default: "60s", "first retry delay; each next one doubles")
    public static let timeoutKey = ConfigKey("notifications.timeout", .duration, default: "5s",
                                             "every network step of a delivery after connecting (TLS, each write and reply)")
    public static let connectTimeoutKey = ConfigKey("notifications.connect_timeout", .duration, default: "3s", "name lookup and TCP connect of a delivery")
    public static let maxInFlightKey = ConfigKey("notifications.max_in_flight", .integer(1...256), default: "8", "messages one scheduler sends at once")
    public static let maxInFlightPerOrganizationKey = ConfigKey("notifications.max_in_flight_per_organization", .integer(1...256), default: "2",
                                                                "of them, at most this many of one organization")
    public static let allowedHostsKey = ConfigKey("notifications.webhook.allowed_hosts", .custom(shape: "names and CIDRs", check: { text in
        do {
            _ = try OutboundAddressPolicy(allowedHosts: text)
            return nil
        } catch {
            return String(describing: error)
        }
    }), default: "", "comma-separated host names or CIDRs (`127.0.0.1/32,hooks.internal`) webhooks may reach although private; "
        + "by default only public addresses")
    public static let maxReceiversPerChannelKey = ConfigKey("alerts.max_receivers_per_channel", .integer(1...10_000), default: "20",
                                                            "receivers per channel per project (more → 409 `TOO_MANY_RECEIVERS`)")

    public static let keys: [ConfigKey] = [
        smtpHost, smtpPort, smtpTLS, smtpUsername, smtpPassword, smtpFrom, smtpCAFile, smsURL, smsHeaders, caFileKey, logPathKey,
        maxPerReceiverPerHourKey, maxAttemptsKey, retryBaseKey, timeoutKey, connectTimeoutKey, maxInFlightKey, maxInFlightPerOrganizationKey,
        allowedHostsKey, maxReceiversPerChannelKey,
    ]

    public init(config: Config) {
        lease = max(1, Int64(config.seconds(KernelKeys.schedulerLease).rounded(.up)))
        let tls = SMTPSecurity(rawValue: config.string(Self.smtpTLS)) ?? .starttls
        timeout = max(0.1, config.seconds(Self.timeoutKey))
        connectTimeout = max(0.1, config.seconds(Self.connectTimeoutKey))
        webhookPolicy = (try? OutboundAddressPolicy(allowedHosts: config.string(Self.allowedHostsKey))) ?? .publicOnly
        maxInFlight = config.int(Self.maxInFlightKey)
        maxInFlightPerOrganization = config.int(Self.maxInFlightPerOrganizationKey)
        if let host = config.optionalString(Self.smtpHost) {
            let port = config[Self.smtpPort.name].flatMap { Int($0) }
            smtp = SMTPSettings(host: host, port: port, tls: tls, username: config.optionalString(Self.smtpUsername),
                                password: config.optionalString(Self.smtpPassword), from: config.string(Self.smtpFrom),
                                caFile: config.optionalString(Self.smtpCAFile), timeout: timeout)
        }
        smsURL = config.optionalString(Self.smsURL)
        smsHeaders = config.optionalString(Self.smsHeaders).flatMap(Config.stringObject) ?? []
        caFile = config.optionalString(Self.caFileKey) ?? config.optionalString(Self.smtpCAFile)
        logPath = config.optionalString(Self.logPathKey) ?? KernelKeys.dataFolder(config) + "/notifications.log"
        maxPerReceiverPerHour = Int64(config.int(Self.maxPerReceiverPerHourKey))
        maxAttempts = Int64(config.int(Self.maxAttemptsKey))
        retryBase = config.seconds(Self.retryBaseKey)
    }
}
