// Fuzz target `postgres-backend`: bytes from a PostgreSQL server through BackendMessageDecoder. Invariants: never a
// crash; the input fed whole and fed in random pieces (1-byte trickles included) gives the same messages and the same
// error; each message encoded again decodes to itself; DataRow columns decode as any known type, binary or text,
// without a crash.

func fuzzPostgresBackend(_ input: [UInt8]) {
    let whole = decodeAll([input[...]])
    var random = FuzzRandom(seed: input.prefix(8))
    let pieces = fuzzSplits(input, random: &random, maxPiece: 9)
    let split = decodeAll(pieces)
    fuzzCheck(whole.messages == split.messages, "split input decoded differently")
    fuzzCheck(whole.error == split.error, "split input failed differently: \(String(describing: whole.error)) vs \(String(describing: split.error))")
    fuzzCheck(whole.leftover == split.leftover, "split input left \(split.leftover) bytes, whole \(whole.leftover)")

    for message in whole.messages {
        var decoder = BackendMessageDecoder()
        decoder.feed(message.encoded)
        do {
            let again = try decoder.next()
            fuzzCheck(again == message, "re-encoded \(message) decoded as \(String(describing: again))")
            fuzzCheck(decoder.bufferedByteCount == 0, "re-encoded message left bytes behind")
        } catch {
            fuzzCheck(false, "re-encoded \(message) does not decode: \(error)")
        }
        if case .dataRow(let columns) = message {
            let types: [UInt32] = [16, 17, 19, 20, 21, 23, 25, 26, 700, 701, 1043, 1114, 1184, 1700]
            for column in columns {
                for type in types {
                    _ = try? PostgresValue.decode(column, type: type, format: 1)
                    _ = try? PostgresValue.decode(column, type: type, format: 0)
                }
            }
        }
    }
}

private func decodeAll(_ pieces: [ArraySlice<UInt8>]) -> (messages: [BackendMessage], error: PostgresProtocolError?, leftover: Int) {
    var decoder = BackendMessageDecoder(maxMessageLength: 1 << 20)
    var messages: [BackendMessage] = []
    for piece in pieces {
        decoder.feed(piece)
        do {
            while let message = try decoder.next() { messages.append(message) }
        } catch {
            return (messages, error, -1)
        }
    }
    return (messages, nil, decoder.bufferedByteCount)
}
