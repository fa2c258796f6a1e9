import Foundation
import XCTest

/// The pass-through proxy's basics: health, bodies byte for byte, Host, hop-by-hop
/// fields, credentials, unknown paths, and secrets kept out of the log.
final class PassThroughTests: EndToEndCase {
    func testHealthAnswersOKOverRawSocketAndCurl() throws {
        let ccload = try startCcload(upstream: nil)
        let r = try ccload.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("content-type"), "application/json")
        XCTAssertEqual(r.json?["status"] as? String, "ok")
        XCTAssertTrue(r.complete)

        let c = try curl([ccload.url + "/health"])
        XCTAssertEqual(c.exitCode, 0, c.stderr)
        XCTAssertEqual(c.status, 200)
        XCTAssertEqual(c.json?["status"] as? String, "ok")
    }

    func testJSONBodyIsByteIdenticalThroughCcload() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let direct = try curl(["-X", "POST", "-H", "content-type: application/json", "--data-binary", "{}",
                               mock.url + "/v1/messages?size=1024"])
        let proxied = try curl(["-X", "POST", "-H", "content-type: application/json", "--data-binary", "{}",
                                ccload.url + "/v1/messages?size=1024"])
        XCTAssertEqual(direct.status, 200)
        XCTAssertEqual(proxied.status, 200, proxied.bodyText)
        XCTAssertEqual(direct.body.count, 1024)
        XCTAssertEqual(proxied.body, direct.body, "body through ccload differs from the mock's")
        XCTAssertNotNil(proxied.json, "not JSON: \(proxied.bodyText.prefix(200))")
        XCTAssertTrue(proxied.headers.lowercased().contains("content-length: 1024"), proxied.headers)
    }

    func testRequestBodyReachesUpstreamWhole() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        var rng = SeededGenerator(seed: 7)
        // 1 KiB of arbitrary bytes (no "stream":true in it).
        let body = (0..<1024).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let c = try ccload.connect()
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n")
        try c.send(body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        let last = try mock.lastRequest()
        XCTAssertEqual(last.bodyLength, 1024)
        XCTAssertTrue(last.head.contains("Content-Length: 1024\r\n"), last.head)
    }

    func testHostIsRewrittenToTheUpstream() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let r = try ccload.request(messagesRequest())
        XCTAssertEqual(r.status, 200)
        let head = try mock.lastRequest().head
        let hosts = head.components(separatedBy: "\r\n").filter { $0.lowercased().hasPrefix("host:") }
        XCTAssertEqual(hosts, ["Host: 127.0.0.1:\(mock.port)"], head)
        XCTAssertFalse(head.contains("client.example"), head)
        XCTAssertTrue(head.hasPrefix("POST /v1/messages HTTP/1.1\r\n"), head)
    }

    func testHopByHopRequestFieldsAreRemovedUpstream() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let r = try ccload.request(messagesRequest(headers: [
            "Connection: keep-alive, X-Drop-Me",
            "Keep-Alive: timeout=5",
            "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
            "Proxy-Connection: keep-alive",
            "TE: trailers",
            "Upgrade: websocket",
            "X-Drop-Me: 1",
            "X-Keep-Me: yes",
            "anthropic-version: 2023-06-01",
        ]))
        XCTAssertEqual(r.status, 200)
        let head = try mock.lastRequest().head
        let names = head.components(separatedBy: "\r\n").dropFirst().compactMap { line -> String? in
            line.firstIndex(of: ":").map { line[..<$0].lowercased() }
        }
        for gone in ["connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade", "x-drop-me"] {
            XCTAssertFalse(names.contains(gone), "\(gone) reached the upstream:\n\(head)")
        }
        XCTAssertTrue(head.contains("X-Keep-Me: yes\r\n"), head)
        XCTAssertTrue(head.contains("anthropic-version: 2023-06-01\r\n"), head)
        XCTAssertFalse(head.contains("cHJveHk6c2VjcmV0"), head)
    }

    func testHopByHopResponseFieldsAreRemovedForTheClient() throws {
        let upstream = try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            try? conn.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                + "Connection: keep-alive, X-Hop-Secret\r\nKeep-Alive: timeout=5\r\nX-Hop-Secret: 1\r\n"
                + "Proxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X-T\r\n"
                + "X-End-To-End: kept\r\n\r\nhello")
            _ = conn.readUntilClose(timeout: 5)
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)")
        let r = try ccload.request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyText, "hello")
        XCTAssertEqual(r.header("x-end-to-end"), "kept")
        for gone in ["keep-alive", "x-hop-secret", "proxy-authenticate", "proxy-connection", "upgrade", "trailer"] {
            XCTAssertNil(r.header(gone), "\(gone) reached the client:\n\(r.headBytes.text)")
        }
        // Connection may only be ccload's own ("close" / "keep-alive"), never the upstream's token list.
        for v in r.headers(named: "connection") {
            XCTAssertFalse(v.lowercased().contains("x-hop-secret"), r.headBytes.text)
        }
    }

    func testClientCredentialsAreReplacedByTheUpstreamKey() throws {
        let mock = try startMock()
        let key = "sk-upstream-\(UInt32.random(in: 0...UInt32.max))"
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_UPSTREAM_KEY": key])

        XCTAssertEqual(try ccload.request(messagesRequest(headers: ["x-api-key: client-key-1"])).status, 200)
        var head = try mock.lastRequest().head
        XCTAssertTrue(head.contains("\r\nx-api-key: \(key)\r\n"), head)
        XCTAssertFalse(head.contains("client-key-1"), head)
        XCTAssertEqual(head.lowercased().components(separatedBy: "x-api-key:").count - 1, 1, head)

        XCTAssertEqual(try ccload.request(messagesRequest(headers: ["Authorization: Bearer client-token-2"])).status, 200)
        head = try mock.lastRequest().head
        XCTAssertTrue(head.contains("\r\nAuthorization: Bearer \(key)\r\n"), head)
        XCTAssertFalse(head.contains("client-token-2"), head)
        XCTAssertEqual(head.lowercased().components(separatedBy: "authorization:").count - 1, 1, head)

        // No client credentials on an Anthropic path: the key goes in x-api-key.
        XCTAssertEqual(try ccload.request(messagesRequest()).status, 200)
        head = try mock.lastRequest().head
        XCTAssertTrue(head.contains("\r\nx-api-key: \(key)\r\n"), head)
    }

    /// Without CCLOAD_UPSTREAM_KEY no client credential goes upstream: it may be a ccload token.
    func testNoClientCredentialGoesUpstreamWithoutAnUpstreamKey() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let r = try ccload.request(messagesRequest(query: "key=client-key-5&beta=true",
                                                   headers: ["x-api-key: client-key-3", "Authorization: Bearer client-token-4"]))
        XCTAssertEqual(r.status, 200)
        let head = try mock.lastRequest().head
        for secret in ["client-key-3", "client-token-4", "client-key-5"] { XCTAssertFalse(head.contains(secret), head) }
        XCTAssertFalse(head.lowercased().contains("\r\nx-api-key:"), head)
        XCTAssertFalse(head.lowercased().contains("\r\nauthorization:"), head)
        XCTAssertTrue(head.hasPrefix("POST /v1/messages?beta=true HTTP/1.1\r\n"), head)
    }

    func testUnknownPathIs404InTheErrorShape() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let before = try mock.acceptedConnections()
        for path in ["/nope", "/v2/messages", "/v1", "/healthz"] {
            let r = try ccload.request("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            assertErrorShape(r, status: 404, type: "not_found_error")
        }
        let root = try ccload.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(root.status, 302, "/ leads to the web UI")
        XCTAssertEqual(root.header("location"), "/web/")
        XCTAssertEqual(try mock.acceptedConnections(), before, "an unknown path reached the upstream")
    }

    func testUpstreamKeyNeverAppearsInStderrOrErrorBodies() throws {
        let mock = try startMock()
        let key = "sk-never-log-\(UInt32.random(in: 0...UInt32.max))"
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_UPSTREAM_KEY": key])
        var bodies: [String] = []
        bodies.append(try ccload.request(messagesRequest(headers: ["x-api-key: client-secret-5"])).bodyText)
        bodies.append(try ccload.request(messagesRequest(query: "status=500", headers: ["x-api-key: client-secret-5"])).bodyText)
        bodies.append(try ccload.request(messagesRequest(query: "stream=1&events=2")).bodyText)
        bodies.append(try ccload.request("GET /nope HTTP/1.1\r\nHost: x\r\nx-api-key: client-secret-5\r\n\r\n").bodyText)
        bodies.append(try ccload.request("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: client-secret-5\r\nContent-Length: x\r\n\r\n").bodyText)
        // A second ccload whose upstream is down: the 502 path.
        let down = try startCcload(upstream: "http://127.0.0.1:\(closedPort())", ["CCLOAD_UPSTREAM_KEY": key])
        let r502 = try down.request(messagesRequest(headers: ["x-api-key: client-secret-5"]))
        XCTAssertEqual(r502.status, 502)
        bodies.append(r502.bodyText)
        ccload.process.signal(SIGTERM)
        down.process.signal(SIGTERM)
        XCTAssertEqual(ccload.process.waitForExit(timeout: 5), 0)
        XCTAssertEqual(down.process.waitForExit(timeout: 5), 0)
        for (name, log) in [("ccload", ccload.process.stderrText), ("ccload (down)", down.process.stderrText)] {
            XCTAssertFalse(log.isEmpty, "\(name) logged nothing")
            XCTAssertFalse(log.contains(key), "\(name) logged the upstream key:\n\(log)")
            XCTAssertFalse(log.contains("client-secret-5"), "\(name) logged a client credential:\n\(log)")
        }
        for b in bodies {
            XCTAssertFalse(b.contains(key), "a response carried the upstream key: \(b)")
            XCTAssertFalse(b.contains("client-secret-5"), "a response echoed a client credential: \(b)")
        }
    }
}

/// SplitMix64: a seeded generator so random inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
