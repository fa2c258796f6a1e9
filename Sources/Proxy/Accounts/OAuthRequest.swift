import Glibc
import Reactor
import TLS

/// One POST to a token endpoint, sent from a loop with that loop's upstream pool (dial, TLS,
/// the connect timeout), answered as the status and up to `maxBody` bytes of body, or a
/// transport failure's text. Owner: the loop it runs on; it keeps itself alive until it
/// has answered. Never on a request's path: the admin handlers and the refresher use it.
public final class OAuthRequest: HTTPClientDelegate, TimerTarget, @unchecked Sendable {
    public typealias Answer = Result<(status: Int, body: [UInt8]), OAuthRequestError>

    public struct OAuthRequestError: Error, Sendable, Equatable {
        public let message: String
    }

    static let maxBody = 64 * 1024
    /// The whole exchange must end within this.
    public static let timeoutNanos: UInt64 = 30 * nanosPerSecond

    private let loop: Loop
    private let pool: UpstreamPool
    private let target: UpstreamTarget
    private let head: [UInt8]
    private let payload: [UInt8]
    private let completion: (Answer) -> Void
    private var self_: OAuthRequest?
    private var dial: Dial?
    private var upstream: HTTPClientConnection?
    private var status: Int?
    private var body: [UInt8] = []
    private lazy var timer = LoopTimer(target: self)

    private init(loop: Loop, pool: UpstreamPool, target: UpstreamTarget, call: OAuthTokenCall, userAgent: String,
                 completion: @escaping (Answer) -> Void) {
        self.loop = loop
        self.pool = pool
        self.target = target
        var h: [UInt8] = []
        HTTP1Writer.appendRequestLine(&h, method: "POST", target: target.pathPrefix.isEmpty ? Array("/".utf8)[...] : target.pathPrefix[...])
        HTTP1Writer.appendHeader(&h, name: "Host", value: target.hostHeader[...])
        HTTP1Writer.appendHeader(&h, name: "Content-Type", value: Array(call.contentType.utf8)[...])
        HTTP1Writer.appendHeader(&h, name: "Accept", value: "application/json")
        if !userAgent.isEmpty { HTTP1Writer.appendHeader(&h, name: "User-Agent", value: Array(userAgent.utf8)[...]) }
        HTTP1Writer.appendHeader(&h, name: "Content-Length", value: call.body.count)
        HTTP1Writer.appendEndOfHead(&h)
        self.head = h
        self.payload = call.body
        self.completion = completion
    }

    /// Sends `call` to `url` on `loop` (call on that loop); `completion` runs there once.
    public static func send(url: String, call: OAuthTokenCall, userAgent: String, loop: Loop, pool: UpstreamPool,
                            completion: @escaping (Answer) -> Void) {
        loop.assertOnLoop()
        guard let target = UpstreamTarget(url: url) else {
            return completion(.failure(OAuthRequestError(message: "the token URL is not http(s)://host[:port]/path")))
        }
        let r = OAuthRequest(loop: loop, pool: pool, target: target, call: call, userAgent: userAgent, completion: completion)
        r.start()
    }

    /// `send` from any thread but a reactor's: blocks the calling thread until the answer (the
    /// exchange itself runs on `loop`).
    public static func sendAndWait(url: String, call: OAuthTokenCall, userAgent: String, loop: Loop,
                                   pool: @escaping @Sendable () -> UpstreamPool) -> Answer {
        let box = Lock<Answer?>(nil)
        loop.submit {
            send(url: url, call: call, userAgent: userAgent, loop: loop, pool: pool()) { a in box.withLock { $0 = a } }
        }
        let deadline = monotonicNanos() &+ timeoutNanos &+ 5 * nanosPerSecond
        while monotonicNanos() < deadline {
            if let a = box.withLock({ $0 }) { return a }
            usleep(2_000)
        }
        return .failure(OAuthRequestError(message: "the token endpoint did not answer in time"))
    }

    private func start() {
        self_ = self
        loop.arm(timer, afterNanos: Self.timeoutNanos)
        dial = pool.dial(target) { [self] result in
            dial = nil
            guard self_ != nil else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c):
                upstream = c
                c.send(head: head, body: payload, isHEAD: false, delegate: self)
            case .failure(let e):
                finish(.failure(OAuthRequestError(message: "token endpoint unreachable: \(e)")))
            }
        }
    }

    public func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) { status = head.status }
    public func responseRaw(_ raw: UnsafeRawBufferPointer) {}

    public func responseData(_ data: UnsafeRawBufferPointer) {
        let room = Self.maxBody - body.count
        if room > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room))) }
    }

    public func responseEnd() {
        upstream = nil  // not pooled: a token call is rare
        guard let status else { return finish(.failure(OAuthRequestError(message: "the token endpoint closed without an answer"))) }
        finish(.success((status, body)))
    }

    public func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        upstream = nil
        finish(.failure(OAuthRequestError(message: "the token endpoint failed: \(error)")))
    }

    public func timerFired(_ timer: LoopTimer) {
        finish(.failure(OAuthRequestError(message: "the token endpoint did not answer in time")))
    }

    private func finish(_ a: Answer) {
        guard self_ != nil else { return }
        self_ = nil
        loop.disarm(timer)
        dial?.cancel()
        dial = nil
        upstream?.close()
        upstream = nil
        completion(a)
    }
}
