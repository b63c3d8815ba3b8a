import Network

extension PostgresConnection {
    /// Starts listening on `channel` (a NOTIFY channel name, quoted for you).
    public func listen(_ channel: String) throws(PostgresError) {
        try simpleQuery("LISTEN " + Self.quoteIdentifier(channel))
    }

    public func unlisten(_ channel: String) throws(PostgresError) {
        try simpleQuery("UNLISTEN " + Self.quoteIdentifier(channel))
    }

    /// Sends a NOTIFY (delivered to listeners when the surrounding transaction commits).
    public func notify(_ channel: String, payload: String = "") throws(PostgresError) {
        try query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Notifications received so far and not yet taken (when `onNotification` is nil).
    public func takeNotifications() -> [PostgresNotification] {
        defer { queuedNotifications.removeAll() }
        return queuedNotifications
    }

    /// Waits up to `timeout` seconds for at least one notification (returns at once when some are queued) and
    /// returns those queued. With `onNotification` set, the callback receives them instead and this returns [].
    /// Must not be called while a statement runs (it is synchronous, so it cannot be).
    public func waitForNotifications(timeout: Double) throws(PostgresError) -> [PostgresNotification] {
        let deadline = Deadline.after(seconds: timeout)
        while queuedNotifications.isEmpty {
            try readAsynchronousInput()
            if !queuedNotifications.isEmpty { break }
            guard stream.waitReadable(deadline: deadline) else { break }
            try fill(deadline: .after(seconds: 5), cancelOnTimeout: false)
            try readAsynchronousInput()
            if deadline.hasPassed { break }
        }
        return takeNotifications()
    }

    /// Handles buffered messages that arrive outside a statement (NOTIFY, notices, a FATAL shutdown error).
    func readAsynchronousInput() throws(PostgresError) {
        while let message = try nextMessage() {
            if case .errorResponse(let fields) = message {
                isBroken = true
                throw PostgresError(.connectionLost, fields.message, fields: fields)
            }
            throw protocolError(message)
        }
    }

    /// True when the idle connection still looks usable: whatever the server sent meanwhile is read (NOTIFYs are
    /// kept), and an end of stream or a shutdown message (57P01 when the server stops) marks it broken.
    public func checkIdle() -> Bool {
        guard !isBroken else { return false }
        while stream.waitReadable(deadline: .now) {
            do {
                try fill(deadline: .after(seconds: 1), cancelOnTimeout: false)
                try readAsynchronousInput()
            } catch {
                isBroken = true
                return false
            }
        }
        return !isBroken
    }

    /// `name` as a double-quoted SQL identifier.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
