import Network

/// Collects rows for `COPY … FROM STDIN` and sends them in large CopyData messages.
public final class PostgresCopyWriter {
    unowned let connection: PostgresConnection
    /// The text-format bytes not yet sent; append to it directly for the fastest path.
    public var encoder = CopyTextEncoder()
    /// Bytes collected before a CopyData message goes out.
    public var chunkSize = 256 * 1024

    init(connection: PostgresConnection) { self.connection = connection }

    /// Appends one row (values in the COPY's column order).
    public func append(row: [PostgresValue]) throws(PostgresError) {
        encoder.append(row: row)
        if encoder.bytes.count >= chunkSize { try send() }
    }

    /// Appends bytes already in COPY's text format (whole lines).
    public func append(raw bytes: [UInt8]) throws(PostgresError) {
        encoder.bytes.append(contentsOf: bytes)
        if encoder.bytes.count >= chunkSize { try send() }
    }

    /// Sends what was collected (called when a chunk is full; `copyIn` calls it at the end).
    public func send() throws(PostgresError) {
        guard !encoder.bytes.isEmpty else { return }
        try connection.sendCopyData(encoder.bytes)
        encoder.bytes.removeAll(keepingCapacity: true)
    }
}

extension PostgresConnection {
    /// Runs `COPY table (columns) FROM STDIN` (text format) with the rows `body` appends; returns the rows copied.
    /// An error thrown by `body` aborts the copy (nothing is inserted) and is rethrown.
    ///
    /// ```swift
    /// let copied = try connection.copyIn("COPY points (series, t, value) FROM STDIN") { writer in
    ///     for point in points { try writer.append(row: [.int(point.series), .int(point.t), .double(point.value)]) }
    /// }
    /// ```
    @discardableResult
    public func copyIn(_ sql: String, timeout: Double? = nil, _ body: (PostgresCopyWriter) throws -> Void) throws -> Int {
        try beginOperation(timeout: timeout)
        defer { endOperation() }
        copyFailure = nil
        output.query(sql)
        try flush()
        while true {
            let message = try receive()
            switch message {
            case .copyInResponse: break
            case .errorResponse(let fields):
                let failure = error(from: fields)
                try drainUntilReady()
                throw failure
            default: throw protocolError(message)
            }
            break
        }
        let writer = PostgresCopyWriter(connection: self)
        do {
            try body(writer)
            try writer.send()
        } catch {
            if isBroken { throw error }
            if let failure = copyFailure {
                // The server refused the data already; it waits for nothing more than our reading its ReadyForQuery.
                try drainUntilReady()
                throw failure
            }
            output.copyFail("the client aborted the copy")
            try flush()
            try drainUntilReady()
            throw error
        }
        if let failure = copyFailure {
            try drainUntilReady()
            throw failure
        }
        output.copyDone()
        try flush()
        var failure: PostgresError?
        var copied = 0
        while true {
            let message = try receive()
            switch message {
            case .commandComplete(let tag): copied = Int(tag.split(separator: " ").last ?? "") ?? 0
            case .errorResponse(let fields): failure = error(from: fields)
            case .readyForQuery(let status):
                transactionStatus = status
                if let failure { throw failure }
                return copied
            default: throw protocolError(message)
            }
        }
    }

    /// Sends one CopyData; first looks (without waiting) whether the server already refused the copy.
    func sendCopyData(_ bytes: [UInt8]) throws(PostgresError) {
        if let copyFailure { throw copyFailure }
        if stream.waitReadable(deadline: .now) {
            try fill(deadline: .after(seconds: 1), cancelOnTimeout: false)
            if let message = try nextMessage() {
                guard case .errorResponse(let fields) = message else { throw protocolError(message) }
                let failure = error(from: fields)
                copyFailure = failure
                throw failure
            }
        }
        output.copyData(bytes)
        try flush()
    }
}
