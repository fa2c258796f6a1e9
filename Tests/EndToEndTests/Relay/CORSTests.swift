import Foundation
import XCTest

/// CORS on `/v1/*` against the real binary: off by default; an allowed origin gets its
/// preflight answered and its origin echoed (on refusals at the head and streams too); a
/// disallowed one gets no CORS header; `*` never comes with credentials; the setting is live.
final class CORSTests: AdminDataCase {
    let app = "https://app.example.com"
    let token = "sk-cors-client-token-1234"

    func cors(_ r: HTTPResponse) -> [String] {
        r.headers.filter { $0.name.lowercased().hasPrefix("access-control-") }.map { "\($0.name.lowercased()): \($0.value)" }
    }

    func preflight(_ ccload: CcloadProcess, origin: String, target: String = "/v1/messages") throws -> HTTPResponse {
        try ccload.request("OPTIONS \(target) HTTP/1.1\r\nHost: ccload.test\r\nOrigin: \(origin)\r\n"
            + "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-api-key, content-type\r\n\r\n")
    }

    func testOffByDefault() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], auth: [token])
        let pre = try preflight(ccload, origin: app)
        XCTAssertEqual(cors(pre), [], "CORS is off: no CORS header on a preflight")
        XCTAssertEqual(pre.status, 404, "a preflight is not answered when CORS is off: \(pre.bodyText)")
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["Origin: \(app)", "x-api-key: \(token)"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(cors(r), [])
        XCTAssertNil(r.header("vary"))
        let settings = try adminOK(ccload, "GET", "/admin/settings")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(settings.first { $0["key"] as? String == "cors_allowed_origins" }?["value"] as? String, "none")
    }

    func testAllowedAndDisallowedOriginsAndTheLiveSetting() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], auth: [token],
                                         ["CCLOAD_CORS_ORIGINS": "\(app), http://localhost:5173", "CCLOAD_CORS_CREDENTIALS": "1"])
        // Preflight from an allowed origin: answered without a token.
        let pre = try preflight(ccload, origin: app)
        XCTAssertEqual(pre.status, 200, pre.bodyText)
        XCTAssertEqual(pre.header("access-control-allow-origin"), app)
        XCTAssertEqual(pre.header("access-control-allow-credentials"), "true")
        XCTAssertEqual(pre.header("access-control-allow-methods"), "GET, POST, OPTIONS")
        XCTAssertEqual(pre.header("access-control-allow-headers"), "x-api-key, content-type")
        XCTAssertEqual(pre.header("access-control-max-age"), "600")
        XCTAssertNotNil(pre.header("x-request-id"))
        XCTAssertEqual(try mock.requests(), 0, "a preflight never goes upstream")
        // From a disallowed origin: no CORS header, and no preflight answer.
        let evil = try preflight(ccload, origin: "https://evil.example.com")
        XCTAssertEqual(cors(evil), [], "\(evil.headers)")
        XCTAssertNotEqual(evil.status, 200)
        // The request itself, plain and streamed, and a refusal at the head.
        let ok = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["Origin: http://localhost:5173", "x-api-key: \(token)"])
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.header("access-control-allow-origin"), "http://localhost:5173")
        XCTAssertTrue(ok.header("access-control-expose-headers")?.contains("x-request-id") == true)
        XCTAssertEqual(ok.header("vary"), "Origin")
        let streamed = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: ["Origin: \(app)", "x-api-key: \(token)"])
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.header("access-control-allow-origin"), app)
        XCTAssertEqual(streamed.headers(named: "access-control-allow-origin").count, 1)
        let refused = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["Origin: \(app)"])
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.header("access-control-allow-origin"), app, "a browser must be able to read the 401")
        let other = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["Origin: https://evil.example.com", "x-api-key: \(token)"])
        XCTAssertEqual(other.status, 200)
        XCTAssertEqual(cors(other), [])
        // The admin API is not under CORS.
        XCTAssertEqual(cors(try admin(ccload, "GET", "/admin/session")), [])

        // Live: `*` with credentials on is refused naming the setting; after credentials off, `*` applies.
        try assertBadField(ccload, "PUT", "/admin/settings", #"{"cors_allowed_origins":"*"}"#, field: "cors_allowed_origins")
        try assertBadField(ccload, "PUT", "/admin/settings", #"{"cors_allowed_origins":"app.example.com"}"#, field: "cors_allowed_origins")
        XCTAssertEqual(try preflight(ccload, origin: app).header("access-control-allow-origin"), app, "a refused change changes nothing")
        try adminOK(ccload, "PUT", "/admin/settings", #"{"cors_allowed_origins":"*","cors_allow_credentials":false}"#)
        let any = try preflight(ccload, origin: "https://anyone.example")
        XCTAssertEqual(any.status, 200)
        XCTAssertEqual(any.header("access-control-allow-origin"), "*")
        XCTAssertNil(any.header("access-control-allow-credentials"), "* never with credentials")
        try assertBadField(ccload, "PUT", "/admin/settings", #"{"cors_allow_credentials":true}"#, field: "cors_allow_credentials")
        // Back to the default: off again.
        try adminOK(ccload, "DELETE", "/admin/settings/cors_allowed_origins")
        XCTAssertEqual(cors(try preflight(ccload, origin: app)), [])
    }

    func testABadOriginSettingStopsTheStartWithAClearError() throws {
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_PASS": CcloadProcess.adminPassword,
                                                   "SQLITE_PATH": tempDatabase(), "CCLOAD_CORS_ORIGINS": "https://a/path"])
        track(p)
        let status = p.waitForExit(timeout: 20)
        XCTAssertNotNil(status, "ccload did not exit")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(p.waitForOutput("cors_allowed_origins"), p.stderrText)
        XCTAssertTrue(p.waitForOutput("https://a/path"), p.stderrText)
    }
}
