import Foundation
import XCTest

/// CCLOAD_LISTEN takes IPv6 addresses too.
final class ListenTests: EndToEndCase {
    private func start(listen: String) throws -> (ProcessUnderTest, Int) {
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": listen, "CCLOAD_THREADS": "2"])
        track(p)
        let marker = "listening on [\(listen)]:"
        guard p.waitForOutput(marker, timeout: 10) else { throw TestFailure("no listening line: \(p.stderrText)") }
        let text = p.stderrText
        let port = Int(text[text.range(of: marker)!.upperBound...].prefix { $0.isNumber }) ?? 0
        XCTAssertGreaterThan(port, 0)
        return (p, port)
    }

    func testServesIPv6LoopbackOnly() throws {
        let (_, port) = try start(listen: "::1")
        let v6 = try curl(["-g", "http://[::1]:\(port)/health"])
        XCTAssertEqual(v6.status, 200)
        XCTAssertEqual(String(decoding: v6.body, as: UTF8.self), #"{"status":"ok"}"#)
        // Bound to ::1 alone: IPv4 loopback is not served.
        let v4 = try curl(["http://127.0.0.1:\(port)/health"], maxTime: 3)
        XCTAssertEqual(v4.exitCode, 7, "curl over IPv4 should be refused")
    }

    func testTheIPv6WildcardAlsoTakesIPv4() throws {
        let (_, port) = try start(listen: "::")
        XCTAssertEqual(try curl(["-g", "http://[::1]:\(port)/health"]).status, 200)
        XCTAssertEqual(try curl(["http://127.0.0.1:\(port)/health"]).status, 200)
    }
}
