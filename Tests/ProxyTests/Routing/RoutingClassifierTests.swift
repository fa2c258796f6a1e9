import Reactor
import XCTest

@testable import Proxy

/// A response head built from (name, value) pairs.
struct RoutingTestHead: HTTPHeadFields {
    var bytes: [UInt8] = []
    var fields: [HTTPHeaderField] = []

    init(_ pairs: [(String, String)] = []) {
        for (n, v) in pairs {
            let ns = bytes.count
            bytes += Array(n.utf8)
            let ne = bytes.count
            bytes += Array(": ".utf8)
            let vs = bytes.count
            bytes += Array(v.utf8)
            let ve = bytes.count
            bytes += [0x0D, 0x0A]
            fields.append(HTTPHeaderField(name: ns..<ne, value: vs..<ve))
        }
    }
}

final class RoutingClassifierTests: XCTestCase {
    let now: UInt64 = 1_700_000_000

    func verdict(_ status: Int, _ body: String = "", _ headers: [(String, String)] = [], model: String = "claude-x") -> Verdict {
        Classifier.classify(status: status, headers: RoutingTestHead(headers), bodyPrefix: Array(body.utf8)[...],
                            model: model, nowUnixSeconds: now)
    }

    func testPassThroughStatuses() {
        for s in [200, 201, 204, 206, 301, 302, 304, 400, 405, 406, 408, 409, 410, 413, 414, 415, 416, 417, 422, 451] {
            XCTAssertEqual(verdict(s, "{\"error\":{\"message\":\"model not found\"}}"), .passThrough, "status \(s)")
        }
    }

    func testAuthFailuresCoolTheKey() {
        for s in [401, 402, 403] {
            XCTAssertEqual(verdict(s, #"{"error":{"type":"authentication_error","message":"invalid x-api-key"}}"#),
                           .failover(.auth, .key, resetAfterNanos: nil), "status \(s)")
            XCTAssertEqual(verdict(s, #"{"error":{"type":"permission_error","message":"Your API key does not have permission"}}"#),
                           .failover(.auth, .key, resetAfterNanos: nil), "status \(s)")
        }
    }

    func testDisabledAccountCoolsTheChannel() {
        let bodies = [
            #"{"error":{"message":"Your account has been suspended."}}"#,
            #"{"error":{"message":"This organization has been disabled."}}"#,
            #"{"error":{"code":"account_deactivated","message":"..."}}"#,
            #"{"error":{"message":"Your ACCOUNT is DISABLED"}}"#,
        ]
        for b in bodies {
            for s in [401, 402, 403] {
                XCTAssertEqual(verdict(s, b), .failover(.auth, .channel, resetAfterNanos: nil), "\(s) \(b)")
            }
        }
        // "disabled" about something else is just the key.
        XCTAssertEqual(verdict(403, #"{"error":{"message":"this key is disabled"}}"#), .failover(.auth, .key, resetAfterNanos: nil))
    }

    func test404AboutTheModelCoolsThePair() {
        let bodies = [
            #"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#,
            #"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","code":"model_not_found"}}"#,
            #"{"error":"Model Not Found"}"#,
            #"unknown model"#,
        ]
        for b in bodies { XCTAssertEqual(verdict(404, b), .failover(.notFound, .model, resetAfterNanos: nil), b) }
        // Named by the upstream model only.
        XCTAssertEqual(verdict(404, "claude-sonnet-9 not found", model: "claude-sonnet-9"),
                       .failover(.notFound, .model, resetAfterNanos: nil))
    }

    func test404WithoutModelTextCoolsTheChannel() {
        for b in ["", "<html><body>404 Not Found</body></html>", #"{"error":"no route for /v1/messages"}"#, "model"] {
            XCTAssertEqual(verdict(404, b), .failover(.notFound, .channel, resetAfterNanos: nil), b)
        }
    }

    func testRateLimit() {
        XCTAssertEqual(verdict(429), .failover(.rateLimit, .model, resetAfterNanos: nil))
        XCTAssertEqual(verdict(429, "", [("Retry-After", "30")]), .failover(.rateLimit, .model, resetAfterNanos: 30 * nanosPerSecond))
        XCTAssertEqual(verdict(429, "", [("retry-after", "0")]), .failover(.rateLimit, .model, resetAfterNanos: 0))
        // An HTTP date 90 s after now (1_700_000_000 = Tue, 14 Nov 2023 22:13:20 GMT).
        XCTAssertEqual(verdict(429, "", [("retry-after", "Tue, 14 Nov 2023 22:14:50 GMT")]),
                       .failover(.rateLimit, .model, resetAfterNanos: 90 * nanosPerSecond))
        XCTAssertEqual(verdict(429, "", [("anthropic-ratelimit-unified-reset", "\(now + 3600)")]),
                       .failover(.rateLimit, .model, resetAfterNanos: 3600 * nanosPerSecond))
        // retry-after first when both are given.
        XCTAssertEqual(verdict(429, "", [("anthropic-ratelimit-unified-reset", "\(now + 3600)"), ("retry-after", "5")]),
                       .failover(.rateLimit, .model, resetAfterNanos: 5 * nanosPerSecond))
        // Unusable hints are ignored.
        XCTAssertEqual(verdict(429, "", [("retry-after", "soon"), ("anthropic-ratelimit-unified-reset", "\(now + 10)")]),
                       .failover(.rateLimit, .model, resetAfterNanos: 10 * nanosPerSecond))
        XCTAssertEqual(verdict(429, "", [("anthropic-ratelimit-unified-reset", "\(now - 10)")]),
                       .failover(.rateLimit, .model, resetAfterNanos: nil))
        XCTAssertEqual(verdict(429, "", [("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT")]),
                       .failover(.rateLimit, .model, resetAfterNanos: nil))
        // Far-future hints saturate instead of trapping (issue 10: a year-2700 date killed the process).
        XCTAssertEqual(verdict(429, "", [("retry-after", "Fri, 01 Jan 2700 00:00:00 GMT")]),
                       .failover(.rateLimit, .model, resetAfterNanos: UInt64.max))
        XCTAssertEqual(verdict(429, "", [("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]),
                       .failover(.rateLimit, .model, resetAfterNanos: UInt64.max))
        XCTAssertEqual(verdict(429, "", [("retry-after", "999999999999999999")]),
                       .failover(.rateLimit, .model, resetAfterNanos: UInt64.max))
        XCTAssertEqual(verdict(429, "", [("anthropic-ratelimit-unified-reset", "999999999999999999")]),
                       .failover(.rateLimit, .model, resetAfterNanos: UInt64.max))
        // Within range (up to 584 years of nanoseconds) the hint stays exact.
        XCTAssertEqual(verdict(429, "", [("retry-after", "Fri, 01 Jan 2100 00:00:00 GMT")]),
                       .failover(.rateLimit, .model, resetAfterNanos: (4_102_444_800 - now) * nanosPerSecond))
        // Only 429 reads the hint.
        XCTAssertEqual(verdict(503, "", [("retry-after", "30")]), .failover(.server, .model, resetAfterNanos: nil))
    }

    func testServerErrors() {
        for s in [500, 501, 502, 503, 504, 505, 520, 521, 522, 523, 524, 529, 599] {
            XCTAssertEqual(verdict(s, "model not found"), .failover(.server, .model, resetAfterNanos: nil), "status \(s)")
        }
    }

    func testHTTPDate() {
        XCTAssertEqual(Classifier.httpDate(Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)[...]), 784_111_777)
        XCTAssertEqual(Classifier.httpDate(Array("Thu, 01 Jan 1970 00:00:00 GMT".utf8)[...]), 0)
        XCTAssertEqual(Classifier.httpDate(Array("Thu, 29 Feb 2024 12:00:00 GMT".utf8)[...]), 1_709_208_000)
        XCTAssertNil(Classifier.httpDate(Array("Sun, 06 Nov 1994 08:49:37 PST".utf8)[...]))
        XCTAssertNil(Classifier.httpDate(Array("Sun, 06 Foo 1994 08:49:37 GMT".utf8)[...]))
        XCTAssertNil(Classifier.httpDate(Array("120".utf8)[...]))
    }

    func testTransportErrorsCoolTheChannel() {
        let errors: [TransportError] = [.errno(ECONNREFUSED), .errno(ECONNRESET), .resolve("no such host"),
                                        .tls("certificate verify failed"), .proxy("CONNECT 403"),
                                        .timeout("connect timed out"), .protocolError("bad status line")]
        for e in errors {
            let (c, k) = Classifier.classify(transportError: e)
            XCTAssertEqual(c, .connection, "\(e)")
            XCTAssertEqual(k, .channel, "\(e)")
        }
        let (c, k) = Classifier.classifyFirstByteTimeout()
        XCTAssertEqual(c, .timeout)
        XCTAssertEqual(k, .model)
    }

    func testSSEErrorTypes() {
        let table: [(String, Verdict)] = [
            ("overloaded_error", .failover(.server, .model, resetAfterNanos: nil)),
            ("api_error", .failover(.server, .model, resetAfterNanos: nil)),
            ("rate_limit_error", .failover(.rateLimit, .model, resetAfterNanos: nil)),
            ("authentication_error", .failover(.auth, .key, resetAfterNanos: nil)),
            ("permission_error", .failover(.auth, .key, resetAfterNanos: nil)),
            ("billing_error", .failover(.auth, .key, resetAfterNanos: nil)),
            ("not_found_error", .failover(.notFound, .model, resetAfterNanos: nil)),
            ("invalid_request_error", .passThrough),
            ("request_too_large", .passThrough),
            ("something_new", .failover(.server, .model, resetAfterNanos: nil)),
        ]
        for (t, v) in table { XCTAssertEqual(Classifier.classify(sseErrorType: t), v, t) }
    }
}
