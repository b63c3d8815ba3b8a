import Testing
@testable import Postgres

@Suite struct SCRAMClientTests {
    // RFC 7677 §3: user "user", password "pencil".
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"

    @Test func theRFC7677ExchangeProducesTheDocumentedMessages() throws {
        var client = SCRAMClient(user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.clientFirstMessage() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.clientFinalMessage(serverFirst: Self.serverFirst)
        #expect(final == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try client.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    }

    @Test func aWrongServerSignatureIsRefused() throws {
        var client = SCRAMClient(user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        _ = client.clientFirstMessage()
        _ = try client.clientFinalMessage(serverFirst: Self.serverFirst)
        #expect(throws: PostgresError.self) { try client.verify(serverFinal: "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") }
        #expect(throws: PostgresError.self) { try client.verify(serverFinal: "e=invalid-proof") }
    }

    @Test func aServerNonceThatDoesNotExtendOursIsRefused() {
        var client = SCRAMClient(user: "user", password: "pencil", nonce: "abc")
        _ = client.clientFirstMessage()
        #expect(throws: PostgresError.self) { try client.clientFinalMessage(serverFirst: "r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") }
        #expect(throws: PostgresError.self) { try client.clientFinalMessage(serverFirst: "r=abc123,s=***,i=4096") }
    }
}
