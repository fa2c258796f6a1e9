import XCTest
@testable import Proxy

/// `FieldName.of` against the lists it replaces on the request path: every hop-by-hop name
/// and every client credential name, in any letter case, is classed as such; the names the
/// proxy sets itself have their own class; everything else, near misses included, is other.
final class FieldNameTests: XCTestCase {
    private func variants(_ s: String) -> [ArraySlice<UInt8>] {
        [s, s.uppercased(), s.prefix(1).uppercased() + s.dropFirst(),
         String(s.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })]
            .map { ArraySlice(Array($0.utf8)) }
    }

    func testEveryListedNameIsClassed() {
        for h in HeaderRewriter.hopByHop {
            for v in variants(h.description) { XCTAssertEqual(FieldName.of(v), .hopByHop, h.description) }
        }
        var credentials = 0
        for h in ProtocolRules.clientCredentialHeaders {
            for v in variants(h.description) {
                XCTAssertTrue(FieldName.of(v).isCredential, h.description)
                XCTAssertTrue(ProtocolRules.isClientCredentialHeader(v), h.description)
                credentials += 1
            }
        }
        XCTAssertEqual(credentials, ProtocolRules.clientCredentialHeaders.count * 4)
        for v in variants("x-api-key") { XCTAssertEqual(FieldName.of(v), .apiKey) }
        for v in variants("authorization") { XCTAssertEqual(FieldName.of(v), .authorization) }
        for v in variants("host") { XCTAssertEqual(FieldName.of(v), .host) }
        for v in variants("content-length") { XCTAssertEqual(FieldName.of(v), .contentLength) }
        for v in variants("expect") { XCTAssertEqual(FieldName.of(v), .expect) }
        for v in variants("x-request-id") { XCTAssertEqual(FieldName.of(v), .requestID) }
        for name in ["access-control-", "access-control-allow-origin", "Access-Control-Max-Age", "access-control-x", "ACCESS-CONTROL-ALLOW-CREDENTIALS",
                     "access-control-expose-headers", "access-control-allow-methods"] {
            XCTAssertEqual(FieldName.of(ArraySlice(Array(name.utf8))), .accessControl, name)
        }
    }

    func testOtherNamesAreOther() {
        let others = [
            "content-type", "user-agent", "accept", "anthropic-version", "anthropic-beta", "x-request", "date",
            "server", "te2", "t", "", "hosts", "hos", "expects", "cookies", "x-api-keys", "x-api-ke", "authorisation",
            "content-lengthx", "upgrade-insecure-requests", "trailers", "keepalive", "keep_alive", "api_key", "apikey",
            "proxy-connections", "transfer-encodin", "x-goog-api-keys", "chatgpt-account", "set-cookie",
            "connection ", "t\u{e9}", "access-control", "x-access-control-allow", "x-request-ids",
        ]
        for name in others {
            XCTAssertEqual(FieldName.of(ArraySlice(Array(name.utf8))), .other, name)
            XCTAssertFalse(ProtocolRules.isClientCredentialHeader(ArraySlice(Array(name.utf8))), name)
        }
    }
}
