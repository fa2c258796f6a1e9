import Foundation
import XCTest

/// The ccload token (in any of the places `ClientAuth` reads it, in any spelling), the
/// admin session cookie and every other client credential never reach an upstream, in
/// pass-through or relay mode: checked on what the mock upstream received.
final class CredentialForwardingTests: RelayCase {
    static let token = "ccl-cred-token-Rf83Xa1Mn5Ke"

    /// Credential fields a client may send besides its token; none may go upstream.
    static let siblings = [
        "Cookie: ccload_session=sess-secret-1; theme=dark",
        "api-key: azure-secret-2",
        "Proxy-Authorization: Basic cHJveHktc2VjcmV0LTM=",
    ]
    /// Read by `ClientAuth` before the query, so only sent where the token is in an earlier header.
    static let googKey = "x-goog-api-key: goog-secret-4"
    static let secrets = [token, "sess-secret-1", "azure-secret-2", "cHJveHktc2VjcmV0LTM=", "goog-secret-4"]

    private func assertNothingSecret(_ mock: MockUpstream, file: StaticString = #filePath, line: UInt = #line) throws {
        let head = try mock.lastRequest().head
        for s in Self.secrets { XCTAssertFalse(head.contains(s), "\(s) reached the upstream:\n\(head)", file: file, line: line) }
        let names = head.components(separatedBy: "\r\n").dropFirst().compactMap { l in l.firstIndex(of: ":").map { l[..<$0].lowercased() } }
        for gone in ["cookie", "api-key", "proxy-authorization"] {
            XCTAssertFalse(names.contains(gone), "\(gone) reached the upstream:\n\(head)", file: file, line: line)
        }
    }

    func testPassThroughStripsTheTokenInAnyQuerySpellingAndEveryCredentialField() throws {
        let mock = try startMock()
        let key = "sk-upstream-\(UInt32.random(in: 0...UInt32.max))"
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_UPSTREAM_KEY": key, "CCLOAD_AUTH": Self.token])
        for spelling in ["key", "KEY", "Key", "k%65y"] {
            let target = "/v1/messages?beta=true&\(spelling)=\(Self.token)"
            // `k%65y` is not read as a token by ccload (so the token goes in a header too), but an upstream would decode it.
            let extra = spelling.contains("%") ? ["x-api-key: \(Self.token)"] : []
            let r = try ccload.post(target, anthropicBody(stream: false), headers: extra + Self.siblings)
            XCTAssertEqual(r.status, 200, "\(spelling): \(r.bodyText)")
            try assertNothingSecret(mock)
            let head = try mock.lastRequest().head
            XCTAssertTrue(head.hasPrefix("POST /v1/messages?beta=true HTTP/1.1\r\n"), head)
            XCTAssertTrue(head.contains("\r\nx-api-key: \(key)\r\n"), "the upstream key takes the client's place:\n\(head)")
        }
    }

    func testPassThroughWithoutAnUpstreamKeySendsNoClientCredential() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_AUTH": Self.token])
        for place in ["x-api-key: \(Self.token)", "Authorization: Bearer \(Self.token)"] {
            let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: [place, Self.googKey] + Self.siblings)
            XCTAssertEqual(r.status, 200, r.bodyText)
            try assertNothingSecret(mock)
            let head = try mock.lastRequest().head.lowercased()
            XCTAssertFalse(head.contains("\r\nx-api-key:") || head.contains("\r\nauthorization:"), head)
        }
    }

    func testRelayStripsTheTokenInAnyQuerySpellingAndEveryCredentialField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url, key: "sk-chan-key"),
                                          channel("g", "gemini", url: mock.url, key: "g-chan-key")], auth: [Self.token])
        for spelling in ["key", "KEY", "Key"] {
            let r = try ccload.post("/v1/messages?\(spelling)=\(Self.token)", anthropicBody(stream: false), headers: Self.siblings)
            XCTAssertEqual(r.status, 200, "\(spelling): \(r.bodyText)")
            try assertNothingSecret(mock)
            XCTAssertTrue(try mock.lastRequest().head.contains("\r\nx-api-key: sk-chan-key\r\n"))
            let g = try ccload.post("/v1beta/models/gemini-2.5-pro:generateContent?alt=sse&\(spelling)=\(Self.token)",
                                    #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#, headers: Self.siblings)
            XCTAssertEqual(g.status, 200, "\(spelling): \(g.bodyText)")
            try assertNothingSecret(mock)
            let head = try mock.lastRequest().head
            XCTAssertTrue(head.hasPrefix("POST /v1beta/models/gemini-2.5-pro:generateContent?alt=sse HTTP/1.1\r\n"), head)
            XCTAssertTrue(head.contains("\r\nx-goog-api-key: g-chan-key\r\n"), head)
        }
    }
}
