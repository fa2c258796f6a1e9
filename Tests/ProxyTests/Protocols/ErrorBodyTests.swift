import Foundation
import XCTest
@testable import Proxy

/// Error bodies are valid JSON in Anthropic's shape, whatever the message holds.
final class ErrorBodyTests: XCTestCase {
    private func parse(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> (type: String?, errorType: String?, message: String?) {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            XCTFail("not JSON: \(String(decoding: bytes, as: UTF8.self))", file: file, line: line)
            return (nil, nil, nil)
        }
        let e = obj["error"] as? [String: Any]
        XCTAssertEqual(Set(obj.keys), ["type", "error"], file: file, line: line)
        XCTAssertEqual(Set(e?.keys.map { $0 } ?? []), ["type", "message"], file: file, line: line)
        return (obj["type"] as? String, e?["type"] as? String, e?["message"] as? String)
    }

    func testMessagesRoundTripThroughAJSONParser() {
        let messages = [
            "plain",
            "",
            #"quote " and backslash \ and slash /"#,
            "line\nbreak\r\nand\ttab",
            "controls \u{01}\u{07}\u{08}\u{0C}\u{1B}\u{1F} end",
            "nul \u{00} inside",
            "del \u{7F} and unicode é 漢字 🙂",
            #"{"type":"error"} injected"#,
            #"\u0041 literal escape text"#,
        ]
        for m in messages {
            let body = ErrorBody.anthropic(status: 400, message: m)
            let p = parse(body)
            XCTAssertEqual(p.type, "error")
            XCTAssertEqual(p.errorType, "invalid_request_error")
            XCTAssertEqual(p.message, m, "message did not survive: \(String(decoding: body, as: UTF8.self))")
            // Raw control bytes are never written (RFC 8259 forbids them in strings).
            XCTAssertFalse(body.contains { $0 < 0x20 }, "raw control byte in \(String(decoding: body, as: UTF8.self))")
        }
    }

    func testEveryASCIIByteRoundTrips() {
        let all = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        var out: [UInt8] = [0x22]
        JSONString.appendEscaped(&out, all)
        out.append(0x22)
        let decoded = try? JSONSerialization.jsonObject(with: Data(out), options: [.fragmentsAllowed]) as? String
        XCTAssertEqual(decoded, all)
    }

    func testTypeForEachStatus() {
        let table: [(Int, String)] = [
            (400, "invalid_request_error"), (405, "invalid_request_error"), (408, "invalid_request_error"),
            (411, "invalid_request_error"), (413, "request_too_large"), (415, "invalid_request_error"),
            (431, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
            (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"),
            (503, "api_error"), (504, "timeout_error"), (529, "overloaded_error"), (418, "invalid_request_error"),
        ]
        for (status, type) in table {
            XCTAssertEqual(ErrorBody.anthropicType(for: status), type, "status \(status)")
            XCTAssertEqual(parse(ErrorBody.anthropic(status: status, message: "m")).errorType, type, "status \(status)")
        }
    }
}
