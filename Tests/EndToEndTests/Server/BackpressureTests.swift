import Foundation
import Glibc
import XCTest

/// A client that stops reading must not make ccload buffer the upstream's body: ccload
/// stops reading that upstream while the client's queue is above its high watermark.
final class BackpressureTests: EndToEndCase {
    func testAStalledClientDoesNotMakeCcloadBufferTheBody() throws {
        let mock = try startMock()
        let cc = try startCcload(upstream: mock.url)
        // Warm up so the baseline includes the pools and buffers of one exchange.
        XCTAssertEqual(try cc.request(messagesRequest(query: "size=1024")).status, 200)
        let before = rssKiB(cc.process.pid)
        XCTAssertGreaterThan(before, 0)

        let size = 48 << 20
        let conn = try cc.connect()
        // A small receive buffer keeps the kernel from soaking up the body on our side.
        var small: Int32 = 64 * 1024
        setsockopt(conn.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try conn.send(messagesRequest(query: "size=\(size)"))
        // Read nothing for a while: the mock can write 48 MiB in far less than this.
        Thread.sleep(forTimeInterval: 1.5)
        let stalled = rssKiB(cc.process.pid)
        XCTAssertLessThan(stalled - before, 16 * 1024,
                          "ccload grew by \(stalled - before) KiB while its client read nothing (body \(size >> 10) KiB)")

        // Now read it all: every byte arrives, in order.
        let r = try conn.readResponse(timeout: 60)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, size)
        XCTAssertEqual(r.header("content-length"), String(size))
        XCTAssertTrue(r.body.starts(with: Array(#"{"id":"msg_mock""#.utf8)))
        XCTAssertTrue(r.body.suffix(20).elementsEqual(Array(#""output_tokens":34}}"#.utf8).suffix(20)))
        // And the connection is still good for the next request.
        try conn.send(messagesRequest(query: "size=100"))
        XCTAssertEqual(try conn.readResponse(timeout: 5).status, 200)
    }
}
