import Reactor
import Synchronization

/// What the mock saw last, for tests that check what the proxy forwarded.
let lastRequest = Lock<(head: [UInt8], bodyLength: Int)>(([], 0))

/// Streams waiting at a gate, by name; a release that comes first is remembered.
let gates = Lock<(waiting: [String: GatedStream], released: Set<String>)>(([:], []))

struct GatedStream: @unchecked Sendable {
    let loop: Loop
    let stream: MockStream
}

/// The mock upstream's request handler, one per loop.
final class MockHandler: HTTPRequestHandler, @unchecked Sendable {
    let loop: Loop
    private var jsonCache: [Int: [UInt8]] = [:]

    init(loop: Loop) { self.loop = loop }

    func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {
        let target = request.head.targetBytes
        if target.starts(with: Array("/mock/".utf8)) {
            return control(request, connection)
        }
        lastRequest.withLock { $0 = (request.head.bytes, request.body.count) }
        let o = MockOptions(request)
        let stream = MockStream(handler: self, connection: connection, options: o)
        connection.userData = stream
        connection.streamDelegate = stream
        stream.start()
    }

    func json(_ o: MockOptions) -> [UInt8] {
        if o.inputTokens == 12 && o.outputTokens == 34 {
            if let b = jsonCache[o.size] { return b }
            let b = MockBodies.json(size: o.size, inputTokens: 12, outputTokens: 34)
            jsonCache[o.size] = b
            return b
        }
        return MockBodies.json(size: o.size, inputTokens: o.inputTokens, outputTokens: o.outputTokens)
    }

    private func control(_ request: HTTPRequest, _ c: HTTPServerConnection) {
        let target = String(decoding: request.head.targetBytes, as: UTF8.self)
        if target.hasPrefix("/mock/release") {
            let name = target.split(separator: "=", maxSplits: 1).last.map(String.init) ?? ""
            let waiting = gates.withLock { g -> GatedStream? in
                if let w = g.waiting.removeValue(forKey: name) { return w }
                g.released.insert(name)
                return nil
            }
            if let w = waiting { w.loop.submit { w.stream.release() } }
            return c.respond(status: 200, body: Array("{\"released\":true}".utf8))
        }
        if target.hasPrefix("/mock/last") {
            let (head, n) = lastRequest.withLock { $0 }
            return c.respond(status: 200, contentType: "text/plain",
                             extraHeaders: [("x-mock-body-length", String(n))], body: head)
        }
        if target.hasPrefix("/mock/connections") {
            let n = HTTPServer.acceptedTotal.load(ordering: .relaxed)
            return c.respond(status: 200, body: Array("{\"accepted\":\(n)}".utf8))
        }
        c.respond(status: 404, body: MockBodies.error(status: 404))
    }
}
