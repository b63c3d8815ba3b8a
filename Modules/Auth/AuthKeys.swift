import Core

/// Auth's configuration keys, declared once.
public enum AuthKeys {
    public static let pbkdf2Iterations = ConfigKey("auth.pbkdf2_iterations", .integer(1...10_000_000), default: String(PasswordHasher.defaultIterations),
                                                   "PBKDF2-HMAC-SHA256 rounds for new password hashes")
    public static let loginTokenTTL = ConfigKey("auth.login_token_ttl", .duration, default: "30d", "lifetime of tokens issued by login")
    public static let loginMaxFailures = ConfigKey("auth.login_max_failures", .integer(1...1_000_000), default: "5",
                                                   "failed logins (and UFDL `obtain`s) per (client address, username) within `auth.login_window` before 429")
    public static let loginWindow = ConfigKey("auth.login_window", .duration, default: "15m", "the window of the login failure limits")
    public static let loginMaxFailuresPerAddress = ConfigKey("auth.login_max_failures_per_address", .integer(1...1_000_000), default: "50",
                                                             "failed logins per client address, whatever the username, before 429")
    public static let accessTokenTTL = ConfigKey("auth.access_token_ttl", .duration, default: "5m", "lifetime of the UFDL dialect's access tokens")
    public static let refreshTokenTTL = ConfigKey("auth.refresh_token_ttl", .duration, default: "8h", "lifetime of the UFDL dialect's refresh tokens")
    public static let tokenCacheTTL = ConfigKey("auth.token_cache_ttl", .duration, default: "1s",
                                                "how long a thread reuses a token lookup (at most 1 s; revocations are seen within it)")
    public static let trustedProxies = ConfigKey("server.trusted_proxies", .text, default: "", "comma-separated proxy addresses whose `X-Forwarded-For` (rightmost untrusted entry) names the client")

    public static let all = [pbkdf2Iterations, loginTokenTTL, loginMaxFailures, loginWindow, loginMaxFailuresPerAddress, accessTokenTTL,
                             refreshTokenTTL, tokenCacheTTL, trustedProxies]
}
