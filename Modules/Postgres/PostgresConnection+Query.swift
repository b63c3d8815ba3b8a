import Network

extension PostgresConnection {
    /// Isolation levels for `transaction(isolation:_:)`.
    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs one statement (`$1…` placeholders) through the extended protocol and returns its rows. A statement
    /// still running after `timeout` seconds (default `defaultStatementTimeout`) is cancelled: `.statementTimeout`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Double? = nil) throws(PostgresError) -> PostgresResult {
        try pipeline([PostgresStatement(sql, parameters)], timeout: timeout)[0]
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Double? = nil) throws(PostgresError) -> Int {
        try query(sql, parameters, timeout: timeout).affectedRows
    }

    /// Sends every statement at once and reads the answers after: one round trip (two the first time a statement
    /// is seen, to prepare it). Outside a transaction block the statements form one implicit transaction: all or
    /// nothing. The first failure throws; the statements after it were not run.
    public func pipeline(_ statements: [PostgresStatement], timeout: Double? = nil) throws(PostgresError) -> [PostgresResult] {
        guard !statements.isEmpty else { return [] }
        var unused: (any Error)?
        return try withStaleRetry(statements) { () throws(PostgresError) in
            try runPipeline(statements, timeout: timeout, rowSink: nil, sinkError: &unused)
        }
    }

    /// Runs one statement and hands each row to `body` as it arrives, keeping none (constant memory for large reads
    /// such as exports). Returns the number of rows. When `body` throws, the remaining rows are read and dropped, then
    /// its error is rethrown.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Double? = nil,
                      forEachRow body: (PostgresRow) throws -> Void) throws -> Int {
        var sinkError: (any Error)?
        let statements = [PostgresStatement(sql, parameters)]
        let results = try withoutActuallyEscaping(body) { sink in
            try withStaleRetry(statements) { () throws(PostgresError) in
                try runPipeline(statements, timeout: timeout, rowSink: sink, sinkError: &sinkError)
            }
        }
        if let sinkError { throw sinkError }
        return results[0].affectedRows
    }

    /// Runs `attempt`; a cached statement whose result type changed (DDL since it was prepared) or that the session
    /// dropped (DISCARD ALL) is prepared again, once, when no transaction block depends on what ran. Both errors come
    /// before any row, so a retry never repeats rows.
    private func withStaleRetry<T>(_ statements: [PostgresStatement], _ attempt: () throws(PostgresError) -> T) throws(PostgresError) -> T {
        var retried = false
        while true {
            do {
                return try attempt()
            } catch {
                let state = error.sqlState ?? ""
                let stale = (state == "0A000" && error.message.contains("cached plan")) || state == "26000"
                guard stale, !retried, !isBroken else { throw error }
                statements.forEach { self.statements[$0.sql] = nil }
                guard transactionStatus == .idle else { throw error }
                retried = true
            }
        }
    }

    private func runPipeline(_ statements: [PostgresStatement], timeout: Double?, rowSink: ((PostgresRow) throws -> Void)?,
                             sinkError: inout (any Error)?) throws(PostgresError) -> [PostgresResult] {
        try beginOperation(timeout: timeout)
        defer { endOperation() }
        try prepare(statements.map(\.sql))
        var prepared: [PreparedStatement] = []
        prepared.reserveCapacity(statements.count)
        for statement in statements {
            guard let entry = self.statements[statement.sql] else {
                throw PostgresError(.protocolViolation, "statement not prepared")
            }
            do {
                try appendBindExecute(entry, statement.parameters)
            } catch {
                output.bytes.removeAll(keepingCapacity: true)
                throw error
            }
            prepared.append(entry)
        }
        output.sync()
        try flush()

        var results: [PostgresResult] = []
        results.reserveCapacity(statements.count)
        var failure: PostgresError?
        var rows: [PostgresRow] = []
        while true {
            let message = try receive()
            switch message {
            case .bindComplete: rows = []
            case .dataRow(let columns):
                guard results.count < prepared.count else { throw protocolError(message) }
                let row = try decodeRow(columns, prepared[results.count])
                if let rowSink {
                    if sinkError == nil {
                        do { try rowSink(row) } catch { sinkError = error }
                    }
                } else {
                    rows.append(row)
                }
            case .commandComplete(let tag):
                guard results.count < prepared.count else { throw protocolError(message) }
                results.append(PostgresResult(columns: prepared[results.count].columns, rows: rows, commandTag: tag))
                rows = []
            case .emptyQueryResponse:
                guard results.count < prepared.count else { throw protocolError(message) }
                results.append(PostgresResult(columns: prepared[results.count].columns, rows: [], commandTag: ""))
            case .portalSuspended:
                throw protocolError(message)
            case .errorResponse(let fields):
                failure = error(from: fields)
            case .readyForQuery(let status):
                transactionStatus = status
                if let failure { throw failure }
                guard results.count == prepared.count else {
                    throw PostgresError(.protocolViolation, "\(results.count) results for \(prepared.count) statements")
                }
                return results
            case .copyInResponse:
                // COPY FROM STDIN needs copyIn: refuse the copy, the server answers with an error.
                output.copyFail("COPY FROM STDIN runs through copyIn")
                try flush()
            case .copyOutResponse, .copyData, .copyDone:
                continue  // COPY TO STDOUT through query: the data is dropped
            default:
                throw protocolError(message)
            }
        }
    }

    func protocolError(_ message: BackendMessage) -> PostgresError {
        isBroken = true
        return PostgresError(.protocolViolation, "unexpected message from PostgreSQL: \(message)")
    }

    /// Parses and describes every statement not yet in the cache, in one round trip.
    func prepare(_ sqls: [String]) throws(PostgresError) {
        var missing: [String] = []
        for sql in sqls where statements[sql] == nil && !missing.contains(sql) { missing.append(sql) }
        guard !missing.isEmpty else { return }
        if statements.count + missing.count > maxCachedStatements {
            for statement in statements.values { output.close(UInt8(ascii: "S"), name: statement.name) }
            statements.removeAll()
        }
        var names: [String] = []
        for sql in missing {
            statementCounter += 1
            let name = "iot_\(statementCounter)"
            names.append(name)
            output.parse(statement: name, sql: sql, parameterTypes: [])
            output.describe(UInt8(ascii: "S"), name: name)
        }
        output.sync()
        try flush()
        var index = 0
        var parameterTypes: [UInt32] = []
        var failure: PostgresError?
        while true {
            let message = try receive()
            switch message {
            case .parseComplete, .closeComplete: continue
            case .parameterDescription(let types): parameterTypes = types
            case .rowDescription, .noData:
                guard index < missing.count else { throw protocolError(message) }
                var columns: [BackendMessage.ColumnDescription] = []
                if case .rowDescription(let described) = message { columns = described }
                let formats = columns.map { PostgresType.readsBinary($0.typeOID) ? Int16(1) : Int16(0) }
                statements[missing[index]] = PreparedStatement(name: names[index], parameterTypes: parameterTypes,
                                                               columns: PostgresColumns(columns), descriptions: columns, resultFormats: formats)
                index += 1
                parameterTypes = []
            case .errorResponse(let fields): failure = error(from: fields)
            case .readyForQuery(let status):
                transactionStatus = status
                if let failure { throw failure }
                guard index == missing.count else { throw PostgresError(.protocolViolation, "prepared \(index) of \(missing.count) statements") }
                return
            default: throw protocolError(message)
            }
        }
    }

    private func appendBindExecute(_ statement: PreparedStatement, _ parameters: [PostgresValue]) throws(PostgresError) {
        guard parameters.count == statement.parameterTypes.count else {
            throw PostgresError(.invalidArgument, "the statement takes \(statement.parameterTypes.count) parameters, \(parameters.count) given")
        }
        var formats: [Int16] = []
        var values: [[UInt8]?] = []
        formats.reserveCapacity(parameters.count)
        values.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
            do {
                let encoded = try parameter.encode(for: statement.parameterTypes[index])
                formats.append(encoded.format)
                values.append(encoded.bytes)
            } catch {
                throw PostgresError(.invalidArgument, "parameter $\(index + 1): \(error.message)")
            }
        }
        output.bind(portal: "", statement: statement.name, parameterFormats: formats, parameters: values, resultFormats: statement.resultFormats)
        output.execute(portal: "")
    }

    private func decodeRow(_ columns: [[UInt8]?], _ statement: PreparedStatement) throws(PostgresError) -> PostgresRow {
        guard columns.count == statement.descriptions.count else {
            isBroken = true
            throw PostgresError(.protocolViolation, "a row of \(columns.count) columns for \(statement.descriptions.count) described")
        }
        var values: [PostgresValue] = []
        values.reserveCapacity(columns.count)
        for index in 0..<columns.count {
            do {
                values.append(try PostgresValue.decode(columns[index], type: statement.descriptions[index].typeOID,
                                                       format: statement.resultFormats[index]))
            } catch {
                isBroken = true
                throw PostgresError(.protocolViolation, "column \(statement.descriptions[index].name): \(error.message)")
            }
        }
        return PostgresRow(columns: statement.columns, values: values)
    }

    // MARK: Simple query

    /// Runs `sql` (one or more statements separated by `;`, no parameters) through the simple query protocol;
    /// results come back in text form. For DDL, migrations and session commands.
    @discardableResult
    public func simpleQuery(_ sql: String, timeout: Double? = nil) throws(PostgresError) -> [PostgresResult] {
        try beginOperation(timeout: timeout)
        defer { endOperation() }
        output.query(sql)
        try flush()
        var results: [PostgresResult] = []
        var columns = PostgresColumns([])
        var descriptions: [BackendMessage.ColumnDescription] = []
        var rows: [PostgresRow] = []
        var failure: PostgresError?
        while true {
            let message = try receive()
            switch message {
            case .rowDescription(let described):
                descriptions = described
                columns = PostgresColumns(described)
                rows = []
            case .dataRow(let values):
                guard values.count == descriptions.count else { throw protocolError(message) }
                var decoded: [PostgresValue] = []
                for (index, value) in values.enumerated() {
                    decoded.append(value.map { PostgresValue.decodeText($0, type: descriptions[index].typeOID) } ?? .null)
                }
                rows.append(PostgresRow(columns: columns, values: decoded))
            case .commandComplete(let tag):
                results.append(PostgresResult(columns: columns, rows: rows, commandTag: tag))
                columns = PostgresColumns([])
                descriptions = []
                rows = []
            case .emptyQueryResponse: continue
            case .errorResponse(let fields): failure = error(from: fields)
            case .copyInResponse:
                output.copyFail("COPY FROM STDIN runs through copyIn")
                try flush()
            case .copyOutResponse, .copyData, .copyDone: continue
            case .readyForQuery(let status):
                transactionStatus = status
                if let failure { throw failure }
                return results
            default: throw protocolError(message)
            }
        }
    }

    // MARK: Transactions

    /// Runs `body` inside BEGIN … COMMIT; any error rolls back and is rethrown. Not reentrant.
    public func transaction<T>(isolation: IsolationLevel? = nil, _ body: (PostgresConnection) throws -> T) throws -> T {
        guard transactionStatus == .idle else { throw PostgresError(.invalidArgument, "a transaction is already open on this connection") }
        try simpleQuery(isolation.map { "BEGIN ISOLATION LEVEL \($0.rawValue)" } ?? "BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            if !isBroken, transactionStatus != .idle { _ = try? simpleQuery("ROLLBACK") }
            throw error
        }
        let results: [PostgresResult]
        do {
            results = try simpleQuery("COMMIT")
        } catch {
            if !isBroken, transactionStatus != .idle { _ = try? simpleQuery("ROLLBACK") }
            throw error
        }
        if results.last?.commandTag == "ROLLBACK" {
            throw PostgresError(.server, "the transaction had failed and was rolled back at COMMIT")
        }
        return value
    }

    /// Checks the connection with an empty round trip.
    public func ping(timeout: Double = 5) throws(PostgresError) {
        try simpleQuery("", timeout: timeout)
    }
}

