import Network

/// The column names of a result, shared by its rows.
public final class PostgresColumns: Sendable {
    public let names: [String]
    public let typeOIDs: [UInt32]
    private let indexes: [String: Int]

    init(_ descriptions: [BackendMessage.ColumnDescription]) {
        names = descriptions.map(\.name)
        typeOIDs = descriptions.map(\.typeOID)
        var indexes: [String: Int] = [:]
        for (index, name) in names.enumerated() where indexes[name] == nil { indexes[name] = index }
        self.indexes = indexes
    }

    /// The first column named `name`.
    public func index(of name: String) -> Int? { indexes[name] }
}

/// One result row: values in column order, also reachable by column name.
public struct PostgresRow: Sendable {
    public let columns: PostgresColumns
    public let values: [PostgresValue]

    public subscript(index: Int) -> PostgresValue { values[index] }

    /// The value of the first column named `name`, nil when there is no such column.
    public subscript(name: String) -> PostgresValue? { columns.index(of: name).map { values[$0] } }
}

/// What one statement returned: its rows (if any) and its command tag (`INSERT 0 3`, `SELECT 2`, `COPY 1000000`).
public struct PostgresResult: Sendable {
    public let columns: PostgresColumns
    public let rows: [PostgresRow]
    public let commandTag: String

    /// Rows inserted, updated, deleted, selected or copied: the tag's last number (0 when it has none).
    public var affectedRows: Int { commandTag.split(separator: " ").last.flatMap { Int($0) } ?? 0 }
}

/// A `NOTIFY` received on a channel this connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public let processID: Int32
    public let channel: String
    public let payload: String
}

/// One statement of a pipeline: SQL with `$1…` placeholders and its parameters.
public struct PostgresStatement: Sendable {
    public var sql: String
    public var parameters: [PostgresValue]

    public init(_ sql: String, _ parameters: [PostgresValue] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}

/// What is needed to cancel a connection's running statement from elsewhere (another thread or a timer).
public struct PostgresCancelToken: Sendable {
    let configuration: PostgresConfiguration
    let processID: Int32
    let secretKey: Int32

    /// Asks the server, on a new connection, to cancel whatever the connection is running. The answer (an error
    /// 57014 on the statement) arrives on the original connection.
    public func cancel() throws(PostgresError) {
        var writer = MessageWriter()
        writer.cancelRequest(processID: processID, secretKey: secretKey)
        do {
            let stream = try NetworkStream.connect(host: configuration.host, port: configuration.port, timeout: configuration.connectTimeout)
            defer { stream.close() }
            try stream.write(writer.bytes)
            // The server closes the connection after reading the request; wait for that so the cancel has arrived.
            _ = try? stream.read(max: 1, deadline: .after(seconds: 1))
        } catch {
            throw PostgresError(.connectFailed, "cancel request to \(configuration.host):\(configuration.port) failed: \(error.message)")
        }
    }
}
