import XCTest
import Reactor
@testable import Proxy

/// The heads that cross the proxy, built from heads parsed by the real parsers.
final class HeaderRewriterTests: XCTestCase {
    // MARK: helpers

    private func requestHead(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPRequestHead {
        var parser = HTTP1RequestParser(maxBodyBytes: 1 << 20)
        let bytes = Array(text.utf8)
        var offset = 0
        let event = bytes.withUnsafeBytes { parser.next($0, &offset) }
        guard event == .head, let head = parser.head else {
            XCTFail("request fixture did not parse: \(event)", file: file, line: line)
            throw CancellationError()
        }
        return head
    }

    private func responseHead(_ text: String) throws -> HTTPResponseHead {
        var parser = HTTP1ResponseParser()
        let bytes = Array(text.utf8)
        var offset = 0
        let event = bytes.withUnsafeBytes { parser.next($0, &offset) }
        guard event == .head, let head = parser.head else {
            XCTFail("response fixture did not parse: \(event)")
            throw CancellationError()
        }
        return head
    }

    private func upstream(_ head: HTTPRequestHead, prefix: String = "", host: String = "up.example:8443",
                          key: String? = nil, bodyLength: Int = 0) -> String {
        let credential: HeaderRewriter.Credential = key.map { .keyInClientsPlace(Array($0.utf8)) } ?? .noKey
        let out = HeaderRewriter.upstreamRequest(head, target: Array(prefix.utf8) + head.targetBytes,
                                                 hostHeader: Array(host.utf8), credential: credential,
                                                 bodyLength: bodyLength)
        return String(decoding: out, as: UTF8.self)
    }

    /// Field lines after the request/status line, without the final empty line.
    func testChannelCredentialDropsEveryClientCredential() throws {
        let h = try requestHead("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer client\r\nx-api-key: client\r\nx-goog-api-key: client\r\nchatgpt-account-id: acct\r\nContent-Length: 0\r\n\r\n")
        let out = String(decoding: HeaderRewriter.upstreamRequest(h, target: Array("/v1/chat/completions".utf8), hostHeader: Array("api".utf8),
                                                                   credential: .channel(.openai, Array("sk-chan".utf8)), bodyLength: 0), as: UTF8.self)
        XCTAssertFalse(out.contains("client"))
        XCTAssertFalse(out.contains("acct"))
        XCTAssertTrue(out.contains("Authorization: Bearer sk-chan\r\n"))
        let g = String(decoding: HeaderRewriter.upstreamRequest(h, target: Array("/v1beta/x".utf8), hostHeader: Array("api".utf8),
                                                                 credential: .channel(.gemini, Array("g-key".utf8)), bodyLength: 0), as: UTF8.self)
        XCTAssertTrue(g.contains("x-goog-api-key: g-key\r\n"))
        XCTAssertFalse(g.contains("Authorization"))
    }

    private func lines(_ head: String) -> [String] {
        Array(head.components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty })
    }

    private func names(_ head: String) -> [String] {
        lines(head).map { String($0.prefix { $0 != ":" }).lowercased() }
    }

    // MARK: request

    func testRequestLineGetsPrefixAndHTTP11() throws {
        let h = try requestHead("POST /v1/messages?beta=true HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
        let out = upstream(h, prefix: "/relay", bodyLength: 2)
        XCTAssertTrue(out.hasPrefix("POST /relay/v1/messages?beta=true HTTP/1.1\r\n"), out)
        XCTAssertTrue(out.hasSuffix("\r\n\r\n"), out)

        let h10 = try requestHead("GET /v1/models HTTP/1.0\r\n\r\n")
        let out10 = upstream(h10)
        XCTAssertTrue(out10.hasPrefix("GET /v1/models HTTP/1.1\r\n"), "a 1.0 client's request goes upstream as 1.1: \(out10)")
        XCTAssertEqual(lines(out10).filter { $0.lowercased().hasPrefix("host:") }, ["Host: up.example:8443"],
                       "a 1.0 request without Host still gets the upstream Host")
    }

    func testHostIsReplacedAndSentOnce() throws {
        let h = try requestHead("GET /v1/models HTTP/1.1\r\nX-A: 1\r\nhOsT: client.example\r\nX-B: 2\r\n\r\n")
        let out = upstream(h, host: "api.example.com")
        let hosts = lines(out).filter { $0.lowercased().hasPrefix("host:") }
        XCTAssertEqual(hosts, ["Host: api.example.com"], out)
        XCTAssertFalse(out.contains("client.example"), out)
    }

    func testHopByHopFieldsAndConnectionTokensAreDropped() throws {
        let h = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\n"
            + "Connection: keep-alive, X-Private, x-other\r\nConnection: X-Third\r\n"
            + "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic abc\r\n"
            + "Proxy-Authenticate: Basic\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
            + "x-private: 1\r\nX-OTHER: 2\r\nx-third: 3\r\nX-Kept: 4\r\nUser-Agent: test\r\nX-Kept: 5\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n")
        let out = upstream(h, bodyLength: 10)
        let n = names(out)
        for gone in ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
                     "te", "trailer", "upgrade", "x-private", "x-other", "x-third", "transfer-encoding"] {
            XCTAssertFalse(n.contains(gone), "\(gone) forwarded:\n\(out)")
        }
        // End-to-end fields keep their order, spelling and repetitions.
        let kept = lines(out).filter { $0.hasPrefix("X-Kept") || $0.hasPrefix("User-Agent") }
        XCTAssertEqual(kept, ["X-Kept: 4", "User-Agent: test", "X-Kept: 5"], out)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("content-length:") }, ["Content-Length: 10"],
                       "a de-chunked body goes with its length:\n\(out)")
    }

    /// Fields are looked up in the Connection lists only when those name something besides
    /// `close` and hop-by-hop fields; either way, a named field never goes on.
    func testConnectionListsAreLookedUpOnlyWhenTheyNameFields() throws {
        let plain = try requestHead("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close, TE\r\nX-A: 1\r\n\r\n")
        XCTAssertFalse(HeaderRewriter.namesFields(plain))
        XCTAssertTrue(names(upstream(plain)).contains("x-a"))
        let none = try requestHead("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n")
        XCTAssertFalse(HeaderRewriter.namesFields(none))
        for list in ["close, X-A", "X-A", "keep-alive,x-a", "upgrade, x-A"] {
            let named = try requestHead("GET / HTTP/1.1\r\nHost: a\r\nConnection: \(list)\r\nX-A: 1\r\nX-B: 2\r\n\r\n")
            XCTAssertTrue(HeaderRewriter.namesFields(named), list)
            let n = names(upstream(named))
            XCTAssertFalse(n.contains("x-a"), list)
            XCTAssertTrue(n.contains("x-b"), list)
        }
    }

    func testKeyReplacesTheCredentialTheClientSent() throws {
        let apiKey = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nX-Api-Key: client-1\r\nContent-Length: 0\r\n\r\n")
        var out = upstream(apiKey, key: "KEY")
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("x-api-key:") }, ["x-api-key: KEY"], out)
        XCTAssertFalse(names(out).contains("authorization"), out)
        XCTAssertFalse(out.contains("client-1"), out)

        let bearer = try requestHead("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nauthorization: Bearer client-2\r\nContent-Length: 0\r\n\r\n")
        out = upstream(bearer, key: "KEY")
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("authorization:") }, ["Authorization: Bearer KEY"], out)
        XCTAssertFalse(names(out).contains("x-api-key"), out)
        XCTAssertFalse(out.contains("client-2"), out)

        let both = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nx-api-key: c3\r\nAuthorization: Bearer c4\r\n"
            + "x-goog-api-key: c5\r\nContent-Length: 0\r\n\r\n")
        out = upstream(both, key: "KEY")
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("x-api-key:") }, ["x-api-key: KEY"], out)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("authorization:") }, ["Authorization: Bearer KEY"], out)
        XCTAssertFalse(names(out).contains("x-goog-api-key"), out)
        for c in ["c3", "c4", "c5"] { XCTAssertFalse(out.contains(": \(c)") || out.contains(" \(c)\r"), out) }
    }

    func testKeyWithoutClientCredentialsFollowsThePathsProtocol() throws {
        let anthropic = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        var out = upstream(anthropic, key: "KEY")
        XCTAssertTrue(lines(out).contains("x-api-key: KEY"), out)
        XCTAssertFalse(names(out).contains("authorization"), out)

        let openai = try requestHead("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        out = upstream(openai, key: "KEY")
        XCTAssertTrue(lines(out).contains("Authorization: Bearer KEY"), out)
        XCTAssertFalse(names(out).contains("x-api-key"), out)
    }

    /// Pass-through without an upstream key: no client credential goes upstream at all.
    func testWithoutKeyNoClientCredentialGoesUpstream() throws {
        let h = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nx-api-key: c1\r\nAuthorization: Bearer c2\r\n"
            + "x-goog-api-key: c3\r\nApi-Key: c4\r\nCookie: ccload_session=c5; other=c6\r\nchatgpt-account-id: c7\r\n"
            + "anthropic-version: 2023-06-01\r\nContent-Length: 0\r\n\r\n")
        let out = upstream(h, key: nil)
        for gone in ["x-api-key", "authorization", "x-goog-api-key", "api-key", "cookie", "chatgpt-account-id"] {
            XCTAssertFalse(names(out).contains(gone), "\(gone) went upstream:\n\(out)")
        }
        for c in ["c1", "c2", "c3", "c4", "c5", "c6", "c7"] { XCTAssertFalse(out.contains(c), "\(c) went upstream:\n\(out)") }
        XCTAssertTrue(lines(out).contains("anthropic-version: 2023-06-01"), out)
    }

    /// Cookie (the admin session among others) and every other client credential field are
    /// dropped in every mode, whatever their case.
    func testCookieAndCredentialSiblingsAreDroppedInEveryMode() throws {
        let h = try requestHead("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nCOOKIE: ccload_session=s3cr3t\r\n"
            + "API-KEY: azure-k\r\nProxy-Authorization: Basic cHJveHk=\r\nX-Goog-Api-Key: g-k\r\nContent-Length: 0\r\n\r\n")
        let credentials: [HeaderRewriter.Credential] = [.noKey, .keyInClientsPlace(Array("KEY".utf8)), .channel(.openai, Array("sk-chan".utf8))]
        for credential in credentials {
            let out = String(decoding: HeaderRewriter.upstreamRequest(h, target: Array("/v1/chat/completions".utf8), hostHeader: Array("up".utf8),
                                                                       credential: credential, bodyLength: 0), as: UTF8.self)
            for gone in ["cookie", "api-key", "proxy-authorization", "x-goog-api-key"] {
                XCTAssertFalse(names(out).contains(gone), "\(gone) went upstream with \(credential):\n\(out)")
            }
            for secret in ["s3cr3t", "azure-k", "cHJveHk=", "g-k"] { XCTAssertFalse(out.contains(secret), out) }
        }
    }

    func testContentLengthIsTheBodyActuallySent() throws {
        // The client's own Content-Length is replaced by the length of the body sent.
        let post = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        var out = upstream(post, bodyLength: 5)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("content-length:") }, ["Content-Length: 5"], out)

        let emptyPost = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\n\r\n")
        out = upstream(emptyPost, bodyLength: 0)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("content-length:") }, ["Content-Length: 0"],
                       "a POST always says how long its body is:\n\(out)")

        let get = try requestHead("GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
        out = upstream(get, bodyLength: 0)
        XCTAssertFalse(names(out).contains("content-length"), "a GET without body gets no Content-Length:\n\(out)")

        let expect = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        out = upstream(expect, bodyLength: 3)
        XCTAssertFalse(names(out).contains("expect"), "the body is already here: Expect is not forwarded:\n\(out)")
    }

    // MARK: response

    func testResponseDropsHopByHopAndKeepsOrChangesLength() throws {
        let h = try responseHead("HTTP/1.1 201 Whatever\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
            + "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=4\r\nX-Hop: 1\r\nX-Request-Id: abc\r\n"
            + "Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n")
        var out: [UInt8] = []
        HeaderRewriter.clientResponse(h, keepLength: true, into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 201 "), text)
        let n = names(text)
        for gone in ["connection", "keep-alive", "x-hop", "proxy-authenticate", "upgrade"] {
            XCTAssertFalse(n.contains(gone), "\(gone) sent to the client:\n\(text)")
        }
        XCTAssertTrue(lines(text).contains("Content-Length: 12"), text)
        XCTAssertEqual(lines(text).filter { $0.hasPrefix("set-cookie") }, ["set-cookie: a=1", "set-cookie: b=2"], text)
        // The client's answer carries ccload's own x-request-id (written by the connection):
        // the upstream's goes on renamed, so the answer never holds two.
        XCTAssertTrue(lines(text).contains("x-upstream-request-id: abc"), text)
        XCTAssertFalse(n.contains("x-request-id"), text)
        XCTAssertFalse(text.hasSuffix("\r\n\r\n"), "the caller ends the head (it adds framing first)")

        var noLength: [UInt8] = []
        HeaderRewriter.clientResponse(h, keepLength: false, into: &noLength)
        XCTAssertFalse(names(String(decoding: noLength, as: UTF8.self)).contains("content-length"))
    }

    /// CORS is ccload's to grant: an upstream's Access-Control-* fields would let any site
    /// read ccload's answers with CORS off (the default), or contradict ccload's own.
    func testResponseDropsTheUpstreamsCORSFields() throws {
        let h = try responseHead("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            + "Access-Control-Allow-Origin: *\r\naccess-control-allow-credentials: true\r\nAccess-Control-Expose-Headers: x\r\n"
            + "Access-Controlled: kept\r\n\r\n")
        var out: [UInt8] = []
        HeaderRewriter.clientResponse(h, keepLength: true, into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertFalse(text.lowercased().contains("access-control-"), text)
        XCTAssertTrue(lines(text).contains("Access-Controlled: kept"), "only the access-control- prefix goes: \(text)")
        XCTAssertTrue(lines(text).contains("Content-Type: application/json"), text)
    }

    func testResponseNeverForwardsTransferEncoding() throws {
        let h = try responseHead("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for keep in [true, false] {
            var out: [UInt8] = []
            HeaderRewriter.clientResponse(h, keepLength: keep, into: &out)
            let text = String(decoding: out, as: UTF8.self)
            XCTAssertFalse(names(text).contains("transfer-encoding"), "the caller chooses the framing:\n\(text)")
            XCTAssertTrue(lines(text).contains("Content-Type: text/event-stream"), text)
        }
    }

    func testConnectionNamingFramingFieldsNeverRemovesTheLength() throws {
        // The client's framing comes from the parsed response: a Connection header that names
        // Content-Length (or Transfer-Encoding) must not take the length away.
        let h = try responseHead("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
            + "Connection: content-length, transfer-encoding, X-Hop\r\nX-Hop: 1\r\n\r\n")
        var out: [UInt8] = []
        HeaderRewriter.clientResponse(h, keepLength: true, into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertEqual(lines(text).filter { $0.lowercased().hasPrefix("content-length") }, ["Content-Length: 5"], text)
        XCTAssertFalse(names(text).contains("x-hop"), text)
        XCTAssertFalse(names(text).contains("connection"), text)
    }

    func testResponseLengthIsWrittenOnceFromTheParsedValue() throws {
        // A repeated identical Content-Length is accepted by the parser: the client gets one.
        let h = try responseHead("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nContent-Length: 5\r\n\r\n")
        var out: [UInt8] = []
        HeaderRewriter.clientResponse(h, keepLength: true, into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertEqual(lines(text).filter { $0.lowercased().hasPrefix("content-length") }, ["Content-Length: 5"], text)
    }

    func testRequestConnectionNamingProxyFieldsKeepsThem() throws {
        // A client Connection header naming Host, Content-Length or Date: Host and the length
        // are the proxy's own and always sent once; Date is the client's hop-by-hop choice.
        let head = try requestHead("POST /v1/messages HTTP/1.1\r\nHost: a\r\nDate: x\r\n"
            + "Connection: host, content-length, date\r\nContent-Length: 3\r\n\r\n")
        let out = upstream(head, bodyLength: 3)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("host:") }, ["Host: up.example:8443"], out)
        XCTAssertEqual(lines(out).filter { $0.lowercased().hasPrefix("content-length:") }, ["Content-Length: 3"], out)
        XCTAssertFalse(names(out).contains("connection"), out)
        XCTAssertFalse(names(out).contains("date"), out)
    }
}
