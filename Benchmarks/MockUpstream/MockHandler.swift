import Reactor
import Synchronization

/// What the mock saw, for tests that check what the proxy forwarded and which mock (which
/// channel) a request reached.
struct MockSeen {
    /// The raw head of the last request and its body length.
    var head: [UInt8] = []
    var bodyLength = 0
    /// Requests answered outside /mock/.
    var requests = 0
    /// The credential header values of the last request ("" when absent).
    var authorization = ""
    var xAPIKey = ""
    var xGoogAPIKey = ""
    /// The last request's target and the model it asked for.
    var path = ""
    var model = ""
}

let lastRequest = Lock<MockSeen>(MockSeen())

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
        var o = MockOptions(request)
        let head = request.head
        func header(_ name: StaticString) -> String {
            head.value(name).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let n = lastRequest.withLock { s -> Int in
            s.head = head.bytes
            s.bodyLength = request.body.count
            s.requests += 1
            s.authorization = header("authorization")
            s.xAPIKey = header("x-api-key")
            s.xGoogAPIKey = header("x-goog-api-key")
            s.path = String(decoding: target, as: UTF8.self)
            s.model = o.model
            return s.requests
        }
        let d = mockDefaults
        if d.failFirst > 0 && o.statusIsDefault {
            o.status = n <= d.failFirst ? (d.status == 200 ? 500 : d.status) : 200
        }
        if let key = d.requireKey, !MockHandler.carriesKey(request, key, o.proto) {
            return connection.respond(status: 401, body: MockBodies.error(status: 401, proto: o.proto, message: "mock: wrong or missing key"))
        }
        let stream = MockStream(handler: self, connection: connection, options: o)
        connection.userData = stream
        connection.streamDelegate = stream
        stream.start()
    }

    /// Whether the request carries `key` where the protocol puts it.
    static func carriesKey(_ request: HTTPRequest, _ key: String, _ proto: MockProtocol) -> Bool {
        let head = request.head
        func value(_ name: StaticString) -> String? { head.value(name).map { String(decoding: $0, as: UTF8.self) } }
        switch proto {
        case .anthropic, .countTokens: return value("x-api-key") == key
        case .openai, .responses: return value("authorization") == "Bearer " + key
        case .gemini:
            if value("x-goog-api-key") == key { return true }
            let target = String(decoding: head.targetBytes, as: UTF8.self)
            return target.contains("?key=\(key)") || target.contains("&key=\(key)")
        }
    }

    func json(_ o: MockOptions) -> [UInt8] {
        guard o.proto == .anthropic else { return MockBodies.body(o) }
        if o.inputTokens == 12 && o.outputTokens == 34 && o.cacheRead == 0 && o.cacheWrite5m == 0 && o.cacheWrite1h == 0 {
            if let b = jsonCache[o.size] { return b }
            let b = MockBodies.body(o)
            jsonCache[o.size] = b
            return b
        }
        return MockBodies.body(o)
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
            let (head, n) = lastRequest.withLock { ($0.head, $0.bodyLength) }
            return c.respond(status: 200, contentType: "text/plain",
                             extraHeaders: [("x-mock-body-length", String(n))], body: head)
        }
        if target.hasPrefix("/mock/stats") {
            let s = lastRequest.withLock { $0 }
            let auth = !s.authorization.isEmpty ? s.authorization : (!s.xAPIKey.isEmpty ? s.xAPIKey : s.xGoogAPIKey)
            let body = "{\"requests\":\(s.requests),\"last_auth\":\(quote(auth)),\"last_authorization\":\(quote(s.authorization))"
                + ",\"last_x_api_key\":\(quote(s.xAPIKey)),\"last_x_goog_api_key\":\(quote(s.xGoogAPIKey))"
                + ",\"last_path\":\(quote(s.path)),\"last_model\":\(quote(s.model))}"
            return c.respond(status: 200, body: Array(body.utf8))
        }
        if target.hasPrefix("/mock/connections") {
            let n = HTTPServer.acceptedTotal.load(ordering: .relaxed)
            return c.respond(status: 200, body: Array("{\"accepted\":\(n)}".utf8))
        }
        c.respond(status: 404, body: MockBodies.error(status: 404))
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
