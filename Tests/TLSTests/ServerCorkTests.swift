import Foundation
import Glibc
import Synchronization
import XCTest

@testable import Reactor

/// `HTTPServerConnection.cork`: what a response writes while corked (its head, its chunks,
/// the last chunk) leaves in one write at `uncork`, byte for byte what the uncorked writes
/// send; a response that closes the connection still closes, after the bytes. And
/// `HTTPClientConnection` brackets every read's callbacks with `responseReadBegan` and
/// `responseReadEnded`, the read that ends the exchange too, which is where a relay corks.
final class ServerCorkTests: XCTestCase {
    final class Counter: @unchecked Sendable {
        private let n = Atomic<Int>(0)
        func add() { n.add(1, ordering: .relaxed) }
        var value: Int { n.load(ordering: .relaxed) }
    }

    /// Counts the writes that moved bytes.
    final class CountingTransport: Transport, @unchecked Sendable {
        let inner: PlainTransport
        let writes: Counter
        init(_ fd: consuming FileDescriptor, _ writes: Counter) {
            inner = PlainTransport(fd: fd)
            self.writes = writes
        }
        var fd: Int32 { inner.fd }
        func read(_ into: UnsafeMutableRawBufferPointer) -> IOResult { inner.read(into) }
        func write(_ from: UnsafeRawBufferPointer) -> IOResult {
            let r = inner.write(from)
            if case .done(let n) = r, n > 0 { writes.add() }
            return r
        }
        var hasBufferedInput: Bool { inner.hasBufferedInput }
        func close() { inner.close() }
    }

    /// `/corked` and `/plain` answer the same chunked response (three chunks), with and
    /// without a cork around all of it.
    final class Handler: HTTPRequestHandler, @unchecked Sendable {
        static let chunks = ["data: one\n\n", "data: two\n\n", "data: three\n\n"]
        func handle(_ request: HTTPRequest, on c: HTTPServerConnection) {
            let corked = request.head.targetBytes.elementsEqual("/corked".utf8)
            var head: [UInt8] = []
            HTTP1Writer.appendStatusLine(&head, status: 200)
            HTTP1Writer.appendHeader(&head, name: "Content-Type", value: "text/event-stream")
            HTTP1Writer.appendHeader(&head, name: "Transfer-Encoding", value: "chunked")
            c.appendConnectionHeader(&head)
            HTTP1Writer.appendEndOfHead(&head)
            if corked { c.cork() }
            head.withUnsafeBytes { c.startResponse(head: $0, framing: .chunked, flushNow: true) }
            for s in Handler.chunks { Array(s.utf8).withUnsafeBytes { c.writeBody($0) } }
            c.endResponse()
            if corked { c.uncork() }
        }
    }

    private func withServer(_ body: (Int, () -> Int) throws -> Void) throws {
        let loop = TestLoop()
        defer { loop.stop() }
        let writes = Counter()
        let handler = Handler()
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        let raw = sock.release()
        let server = loop.sync { () -> HTTPServer in
            let s = HTTPServer(loop: loop.loop, config: HTTPServerConfig(), handler: handler,
                               wrap: { fd throws(TransportError) in CountingTransport(fd, writes) })
            _ = s.listen(on: FileDescriptor(raw))
            return s
        }
        XCTAssertNotNil(server)
        // Read on the loop: a write and its count happen in one loop callback, so once the
        // client has the bytes, a sync after it sees the count (a plain read could race it).
        try body(port, { loop.sync { writes.value } ?? -1 })
        _ = loop.sync { server?.drain {}; return true }
    }

    /// A blocking client: sends `request`, reads until `until` ends what it has (or the
    /// peer closes), within 10 s.
    private func exchange(_ fd: Int32, _ request: String, until: String) -> (bytes: String, closed: Bool) {
        _ = Array(request.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if String(decoding: got, as: UTF8.self).hasSuffix(until) { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return (String(decoding: got, as: UTF8.self), true) }
            got += buf[0..<n]
        }
        return (String(decoding: got, as: UTF8.self), false)
    }

    private func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(r, 0, "connect")
        return fd
    }

    /// The body without the head's per-request id, for comparing two answers.
    private func body(_ s: String) -> Substring {
        guard let r = s.range(of: "\r\n\r\n") else { return "" }
        return s[r.upperBound...]
    }

    func testACorkedResponseLeavesInOneWriteWithTheSameBytes() throws {
        try withServer { port, writes in
            let fd = try connect(port)
            defer { close(fd) }
            let get = { (path: String) in "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n" }
            let plain = exchange(fd, get("/plain"), until: "0\r\n\r\n")
            let afterPlain = writes()
            let corked = exchange(fd, get("/corked"), until: "0\r\n\r\n")
            let afterCorked = writes()
            XCTAssertFalse(plain.closed)
            XCTAssertFalse(corked.closed, "a corked response must leave the connection open")
            // Uncorked: the head, three chunks and the last chunk, each its own write.
            XCTAssertEqual(afterPlain, 5)
            XCTAssertEqual(afterCorked - afterPlain, 1, "the corked response took more than one write")
            let expected = "b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\nd\r\ndata: three\n\n\r\n0\r\n\r\n"
            XCTAssertEqual(body(plain.bytes), Substring(expected))
            XCTAssertEqual(body(corked.bytes), Substring(expected))
            XCTAssertTrue(corked.bytes.hasPrefix("HTTP/1.1 200"), corked.bytes)
        }
    }

    func testACorkedResponseThatEndsTheConnectionClosesAfterItsBytes() throws {
        try withServer { port, writes in
            let fd = try connect(port)
            defer { close(fd) }
            let r = exchange(fd, "GET /corked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", until: "\u{0}never")
            XCTAssertTrue(r.closed, "the connection stayed open after a Connection: close response")
            XCTAssertTrue(r.bytes.hasSuffix("0\r\n\r\n"), r.bytes)
            XCTAssertTrue(r.bytes.contains("Connection: close"), r.bytes)
            XCTAssertEqual(writes(), 1)
        }
    }

    /// Records the order of callbacks; `began`/`ended` must bracket each read.
    final class Bracketing: HTTPClientDelegate, @unchecked Sendable {
        var events: [String] = []
        var ended: Handoff<Void>?
        func responseReadBegan() { events.append("began") }
        func responseReadEnded() { events.append("ended"); if events.contains("end") { ended?.put(()) } }
        func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) { events.append("head") }
        func responseRaw(_ raw: UnsafeRawBufferPointer) {}
        func responseData(_ d: UnsafeRawBufferPointer) { events.append("data") }
        func responseEnd() { events.append("end") }
        func responseFailed(_ error: TransportError, receivedBytes: Bool) { events.append("failed"); ended?.put(()) }
    }

    func testEveryReadIsBracketedTheLastOneToo() throws {
        let (clientFD, peer) = try nonblockingSocketPair()
        defer { close(peer) }
        func write(_ s: String) { writeString(peer, s) }
        let loop = TestLoop()
        defer { loop.stop() }
        let d = Bracketing()
        let ended = Handoff<Void>()
        d.ended = ended
        let conn = loop.sync { () -> HTTPClientConnection in
            let c = HTTPClientConnection(loop: loop.loop, transport: PlainTransport(fd: FileDescriptor(clientFD)))
            c.send(head: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), body: [], isHEAD: false, delegate: d)
            return c
        }
        // Two reads: the head and a chunk; then two chunks and the end in one.
        write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        XCTAssertNotNil(loop.sync { () -> Bool in true })
        Thread.sleep(forTimeInterval: 0.2)
        write("2\r\nde\r\n1\r\nf\r\n0\r\n\r\n")
        XCTAssertNotNil(ended.wait(10), "the response never ended")
        let events = loop.sync { d.events } ?? []
        XCTAssertEqual(events, ["began", "head", "data", "ended", "began", "data", "data", "end", "ended"])
        _ = loop.sync { conn?.close(); return true }
    }
}
