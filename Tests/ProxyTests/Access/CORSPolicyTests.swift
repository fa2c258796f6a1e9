import XCTest
@testable import Proxy
@testable import Reactor

/// `CORSPolicy`: what the settings accept, which origins are answered, and the fields
/// each kind of request gets (`*` never with credentials).
final class CORSPolicyTests: XCTestCase {
    private func head(_ lines: String) -> HTTPRequestHead { parsedRequestHead(lines) }

    private func fields(_ policy: CORSPolicy, _ lines: String) -> (allowed: Bool, text: String) {
        var out: [UInt8] = []
        let ok = policy.fields(for: head(lines), into: &out)
        return (ok, String(decoding: out, as: UTF8.self))
    }

    func testSettingsParseAndRefuse() throws {
        XCTAssertFalse(try CORSPolicy(origins: "", allowCredentials: false).enabled, "empty: off")
        XCTAssertFalse(try CORSPolicy(origins: " , ", allowCredentials: true).enabled)
        XCTAssertFalse(try CORSPolicy(origins: "none", allowCredentials: false).enabled, "the default: off")
        XCTAssertFalse(try CORSPolicy(origins: " None ", allowCredentials: true).enabled)
        XCTAssertThrowsError(try CORSPolicy(origins: "none, https://a", allowCredentials: false), "none is no origin")
        let two = try CORSPolicy(origins: " https://App.Example.com , http://localhost:3000,https://app.example.com", allowCredentials: false)
        XCTAssertEqual(two.origins.map { String(decoding: $0, as: UTF8.self) }, ["https://app.example.com", "http://localhost:3000"])
        XCTAssertTrue(try CORSPolicy(origins: "*", allowCredentials: false).anyOrigin)
        XCTAssertTrue(try CORSPolicy(origins: "http://a:1,http://a:65535", allowCredentials: false).enabled, "ports at both ends")
        for bad in ["app.example.com", "ftp://a", "https://", "https://a/path", "https://user@a", "https://a:0", "https://a:65536",
                    "https://a:", "https://:80", "https://a b", "null", "https://[::1]"] {
            XCTAssertThrowsError(try CORSPolicy(origins: bad, allowCredentials: false), bad) {
                guard case .badOrigin = $0 as? CORSPolicyError else { return XCTFail("\(bad): \($0)") }
            }
        }
        XCTAssertThrowsError(try CORSPolicy(origins: "*", allowCredentials: true)) {
            XCTAssertEqual($0 as? CORSPolicyError, .wildcardWithCredentials)
        }
        XCTAssertThrowsError(try CORSPolicy(origins: "*, https://a", allowCredentials: false)) {
            XCTAssertEqual($0 as? CORSPolicyError, .wildcardWithOthers)
        }
        XCTAssertNoThrow(try CORSPolicy(origins: "https://a", allowCredentials: true))
    }

    func testTheSettingIsLiveAndRefusedThroughRuntimeSettings() throws {
        XCTAssertFalse(RuntimeSettings.defaults.cors.enabled, "off by default")
        let on = try RuntimeSettings(values: ["cors_allowed_origins": "https://a.example"])
        XCTAssertTrue(on.cors.allows(Array("https://a.example".utf8)[...]))
        XCTAssertThrowsError(try RuntimeSettings(values: ["cors_allowed_origins": "*", "cors_allow_credentials": "true"])) {
            XCTAssertTrue(($0 as? StoreError)?.message.contains("cors_allowed_origins") == true, "\($0)")
        }
        XCTAssertTrue(SettingsCatalog.definition("cors_allowed_origins")!.live)
        XCTAssertEqual(SettingsCatalog.definition("cors_allowed_origins")!.environment, "CCLOAD_CORS_ORIGINS")
    }

    func testAllowedOriginIsEchoedWithCredentialsAndExposedHeaders() throws {
        let p = try CORSPolicy(origins: "https://app.example.com", allowCredentials: true)
        let r = fields(p, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\nContent-Length: 0\r\n")
        XCTAssertTrue(r.allowed)
        XCTAssertTrue(r.text.contains("Access-Control-Allow-Origin: https://app.example.com\r\n"), r.text)
        XCTAssertTrue(r.text.contains("Access-Control-Allow-Credentials: true\r\n"), r.text)
        XCTAssertTrue(r.text.contains("Access-Control-Expose-Headers: x-request-id"), r.text)
        XCTAssertTrue(r.text.contains("Vary: Origin\r\n"), r.text)
        XCTAssertFalse(r.text.contains("Access-Control-Allow-Methods"), "only a preflight gets the methods")
    }

    func testDisallowedOrMissingOriginGetsNoCORSField() throws {
        let p = try CORSPolicy(origins: "https://app.example.com", allowCredentials: true)
        for origin in ["https://evil.example.com", "https://app.example.com.evil", "http://app.example.com", "null", ""] {
            let r = fields(p, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: \(origin)\r\n")
            XCTAssertFalse(r.allowed, origin)
            XCTAssertFalse(r.text.lowercased().contains("access-control-"), "\(origin): \(r.text)")
        }
        XCTAssertFalse(fields(p, "POST /v1/messages HTTP/1.1\r\nHost: x\r\n").text.contains("Access-Control-"))
        let off = fields(.off, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\n")
        XCTAssertFalse(off.allowed)
        XCTAssertEqual(off.text, "", "CORS off: nothing at all")
    }

    func testWildcardNeverSendsCredentials() throws {
        let p = try CORSPolicy(origins: "*", allowCredentials: false)
        let r = fields(p, "OPTIONS /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://anyone.example\r\nAccess-Control-Request-Method: POST\r\n")
        XCTAssertTrue(r.allowed)
        XCTAssertTrue(r.text.contains("Access-Control-Allow-Origin: *\r\n"), r.text)
        XCTAssertFalse(r.text.contains("Credentials"), r.text)
        XCTAssertFalse(r.text.contains("Vary"), "the answer is the same for every origin")
    }

    func testPreflightFieldsAndTheEchoedHeaderLimit() throws {
        let p = try CORSPolicy(origins: "https://app.example.com", allowCredentials: false)
        let base = "OPTIONS /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: POST\r\n"
        let plain = fields(p, base)
        XCTAssertTrue(plain.text.contains("Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"), plain.text)
        XCTAssertTrue(plain.text.contains("Access-Control-Max-Age: 600\r\n"), plain.text)
        XCTAssertTrue(plain.text.contains("Access-Control-Allow-Headers: authorization, content-type, x-api-key"), plain.text)
        XCTAssertFalse(plain.text.contains("Credentials"))
        let asked = fields(p, base + "Access-Control-Request-Headers: x-api-key, anthropic-version, content-type\r\n")
        XCTAssertTrue(asked.text.contains("Access-Control-Allow-Headers: x-api-key, anthropic-version, content-type\r\n"), asked.text)
        let longest = String(repeating: "a", count: CORSPolicy.maxEchoedHeaderBytes)
        XCTAssertTrue(fields(p, base + "Access-Control-Request-Headers: \(longest)\r\n").text.contains(longest), "at the limit: echoed")
        let over = fields(p, base + "Access-Control-Request-Headers: \(longest)a\r\n")
        XCTAssertFalse(over.text.contains(longest), "over the limit: the fixed list")
        XCTAssertTrue(over.text.contains("Access-Control-Allow-Headers: authorization"), over.text)
        let odd = fields(p, base + "Access-Control-Request-Headers: x-a;b\r\n")
        XCTAssertTrue(odd.text.contains("Access-Control-Allow-Headers: authorization"), "odd bytes are not echoed: \(odd.text)")
        XCTAssertTrue(CORSPolicy.isPreflight(head(base)))
        XCTAssertFalse(CORSPolicy.isPreflight(head("OPTIONS /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\n")))
        XCTAssertFalse(CORSPolicy.isPreflight(head("POST /v1/messages HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\nAccess-Control-Request-Method: POST\r\n")))
    }
}
