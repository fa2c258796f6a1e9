import Foundation
import Glibc
import XCTest

@testable import Reactor

/// A delegate that resumes reading from inside a delivery (what a relay does when writing an
/// upstream's bytes to its client drains the client's queue and asks for more) must not be
/// called again before that delivery returns: the connection goes on reading after it, in
/// order. Before the fix the resume read at once: the relay's forwarder was re-entered (a
/// Swift exclusivity trap in `HostileClientTests`, once), and new bytes were delivered in
/// the middle of older ones.
final class ClientConnectionReentryTests: XCTestCase {
    /// Counts how deep its callbacks nest; on the first body piece it feeds the socket the
    /// rest of the response and pauses and resumes reading, as a relay's client drain does.
    final class Delegate: HTTPClientDelegate, @unchecked Sendable {
        var connection: HTTPClientConnection?
        var rest: (() -> Void)?
        var depth = 0, maxDepth = 0
        var data: [UInt8] = []
        var ended: Handoff<Void>?
        var failure: TransportError?

        private func enter() { depth += 1; maxDepth = max(maxDepth, depth) }
        func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) { enter(); depth -= 1 }
        func responseRaw(_ raw: UnsafeRawBufferPointer) { enter(); depth -= 1 }
        func responseData(_ d: UnsafeRawBufferPointer) {
            enter()
            defer { depth -= 1 }
            data.append(contentsOf: d)
            if let r = rest {
                rest = nil
                r()  // the rest of the response is in the socket before the resume
                connection?.pauseReading()
                connection?.resumeReading()
            }
        }
        func responseEnd() { ended?.put(()) }
        func responseFailed(_ error: TransportError, receivedBytes: Bool) { failure = error; ended?.put(()) }
    }

    func testResumeInsideADeliveryReadsAfterItInOrder() throws {
        let (clientFD, peer) = try nonblockingSocketPair()
        defer { close(peer) }
        func write(_ s: String) { writeString(peer, s) }

        let loop = TestLoop()
        defer { loop.stop() }
        let d = Delegate()
        let ended = Handoff<Void>()
        d.ended = ended
        var expected: [UInt8] = []
        var first = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for i in 0..<20 { first += "5\r\nA\(String(format: "%04d", i))\r\n"; expected += Array("A\(String(format: "%04d", i))".utf8) }
        var second = ""
        for i in 0..<20 { second += "5\r\nB\(String(format: "%04d", i))\r\n"; expected += Array("B\(String(format: "%04d", i))".utf8) }
        second += "0\r\n\r\n"
        d.rest = { write(second) }

        _ = loop.sync {
            let c = HTTPClientConnection(loop: loop.loop, transport: PlainTransport(fd: FileDescriptor(clientFD)))
            d.connection = c
            c.send(head: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), body: [], isHEAD: false, delegate: d)
            return true
        }
        write(first)
        XCTAssertNotNil(ended.wait(10), "the response never ended")
        let report = loop.sync { (d.maxDepth, d.data, d.failure) }
        XCTAssertNil(report?.2)
        XCTAssertEqual(report?.0, 1, "a delegate callback ran inside another")
        XCTAssertEqual(report?.1, expected, "the body out of order or incomplete")
        _ = loop.sync { d.connection?.close(); d.connection = nil; return true }
    }
}
