// pg-bench URL [ROWS]: the PostgreSQL driver's throughput against a server: rows/s inserted via COPY and via
// pipelined multi-row INSERTs, and simple SELECT round trips/s. Tools/bench-pg builds it in release mode and
// starts a throwaway cluster for it.
import Foundation
import Postgres

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func format(_ value: Double) -> String { String(format: "%.0f", value) }

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: pg-bench URL [ROWS]\n".utf8))
    exit(2)
}
let rows = arguments.count >= 3 ? Int(arguments[2]) ?? 1_000_000 : 1_000_000
do {
    let configuration = try PostgresConfiguration(url: arguments[1], environment: ProcessInfo.processInfo.environment)
    let connection = try PostgresConnection.connect(configuration)
    defer { connection.close() }
    try connection.simpleQuery("DROP TABLE IF EXISTS bench_points; CREATE TABLE bench_points (series int4, t int8, v float8)")

    var copied = 0
    let copySeconds = try seconds {
        copied = try connection.copyIn("COPY bench_points (series, t, v) FROM STDIN") { writer in
            for index in 0..<rows {
                writer.encoder.appendInteger(Int64(index % 200))
                writer.encoder.bytes.append(0x09)
                writer.encoder.appendInteger(Int64(index))
                writer.encoder.bytes.append(0x09)
                writer.encoder.appendInteger(Int64(index % 1000))
                writer.encoder.bytes.append(0x0A)
                if writer.encoder.bytes.count >= writer.chunkSize { try writer.send() }
            }
        }
    }
    let counted = try connection.query("SELECT count(*) FROM bench_points").rows.first?[0].intValue ?? 0
    guard copied == rows, counted == Int64(rows) else { throw PostgresError(.server, "COPY stored \(counted) rows of \(rows)") }
    print("COPY:                      \(format(Double(rows) / copySeconds)) rows/s (\(rows) rows in \(String(format: "%.2f", copySeconds)) s)")

    var streamed = 0
    let streamSeconds = try seconds {
        try connection.query("SELECT series, t, v FROM bench_points") { row in
            if case .int = row[1] { streamed += 1 }
        }
    }
    guard streamed == rows else { throw PostgresError(.server, "streamed \(streamed) rows of \(rows)") }
    print("SELECT streamed (3 columns): \(format(Double(rows) / streamSeconds)) rows/s")

    try connection.simpleQuery("TRUNCATE bench_points")
    let perStatement = 1000
    let perPipeline = 10
    let sql = "INSERT INTO bench_points (series, t, v) VALUES "
        + (0..<perStatement).map { "($\(3 * $0 + 1), $\(3 * $0 + 2), $\(3 * $0 + 3))" }.joined(separator: ", ")
    var inserted = 0
    let insertSeconds = try seconds {
        while inserted < rows {
            var statements: [PostgresStatement] = []
            for _ in 0..<perPipeline where inserted < rows {
                var parameters: [PostgresValue] = []
                parameters.reserveCapacity(3 * perStatement)
                for offset in 0..<perStatement {
                    let index = inserted + offset
                    parameters += [.int(Int64(index % 200)), .int(Int64(index)), .double(Double(index % 1000))]
                }
                statements.append(PostgresStatement(sql, parameters))
                inserted += perStatement
            }
            _ = try connection.pipeline(statements)
        }
    }
    let insertedCount = try connection.query("SELECT count(*) FROM bench_points").rows.first?[0].intValue ?? 0
    guard insertedCount == Int64(inserted) else { throw PostgresError(.server, "INSERT stored \(insertedCount) rows of \(inserted)") }
    print("pipelined INSERT (\(perStatement) rows × \(perPipeline)): \(format(Double(inserted) / insertSeconds)) rows/s")

    var roundTrips = 0
    let selectSeconds = try seconds {
        let end = DispatchTime.now().uptimeNanoseconds + 3_000_000_000
        while DispatchTime.now().uptimeNanoseconds < end {
            _ = try connection.query("SELECT $1::int8", [.int(Int64(roundTrips))])
            roundTrips += 1
        }
    }
    print("SELECT round trips:        \(format(Double(roundTrips) / selectSeconds)) /s")
    try connection.simpleQuery("DROP TABLE bench_points")
} catch {
    FileHandle.standardError.write(Data("pg-bench: \(error)\n".utf8))
    exit(1)
}
