import Synchronization

/// Limits and timeouts of the HTTP/1.1 server side.
public struct HTTPServerConfig: Sendable {
    public var maxHeadBytes = 64 * 1024
    public var maxBodyBytes = 32 * 1024 * 1024
    public var headerTimeoutNanos: UInt64 = 15 * nanosPerSecond
    public var idleTimeoutNanos: UInt64 = 120 * nanosPerSecond
    /// Outbound queue sizes between which a streaming producer is paused and resumed.
    public var writeHighWatermark = 256 * 1024
    public var writeLowWatermark = 64 * 1024
    /// A client that accepts no byte of a queued response for this long is closed (the
    /// application may set its own per response: `HTTPServerConnection.writeStallTimeoutNanos`).
    public var writeStallTimeoutNanos: UInt64 = 60 * nanosPerSecond
    /// Open client connections allowed across every server made from this configuration;
    /// past it a new connection gets a short 503 and is closed.
    public var maxConnections = Int.max
    /// The count `maxConnections` bounds, shared by the servers of every loop.
    public let connections = ConnectionGauge()
    /// Builds the JSON body of an error the server answers by itself (400, 408, 413, 431).
    public var errorBody: @Sendable (_ status: Int, _ message: String) -> [UInt8] = { _, m in
        Array("{\"error\":\"\(m)\"}".utf8)
    }

    public init() {}
}

/// Open connections across loops (one atomic add per accept and per close).
public final class ConnectionGauge: Sendable {
    private let count = Atomic<Int>(0)
    public init() {}
    public var current: Int { count.load(ordering: .relaxed) }

    /// Counts one more unless that would pass `limit`.
    func tryAdd(limit: Int) -> Bool {
        let now = count.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            count.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func remove() { count.wrappingSubtract(1, ordering: .relaxed) }
}

/// What the application decides once a request head is in, before any body byte is read.
public enum HeadDecision {
    /// Read the body (at most `maxBodyBytes`, or the server's limit when nil) and dispatch;
    /// the request carries `note`.
    case proceed(maxBodyBytes: Int?, note: HeadNote = .none)
    /// Answer now with `status` and the JSON `body`: no `100 Continue`, the body is never
    /// read, and the connection closes if one was announced.
    case reject(status: Int, body: [UInt8])
}

/// What the handler worked out at a request's head (say, who the request is from), handed
/// back with the request so that the work is not done twice. Two words, opaque to the server.
public struct HeadNote: Sendable, Equatable {
    public var tag: UInt64
    public var value: Int

    public init(tag: UInt64, value: Int) {
        self.tag = tag
        self.value = value
    }

    public static let none = HeadNote(tag: 0, value: 0)
}

/// One request with its whole body (bodies are kept so a request can be replayed to
/// another upstream on failover).
public struct HTTPRequest {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    public var peer: SocketAddress
    /// The handler's `HeadDecision.proceed` note for this request.
    public var headNote = HeadNote.none
}

/// The application side of the server: one per loop.
public protocol HTTPRequestHandler: AnyObject {
    /// A complete request arrived on `connection`; answer it with the connection's
    /// response calls, now or later, exactly once.
    func handle(_ request: HTTPRequest, on connection: HTTPServerConnection)
    /// A request head arrived (its body, if any, not yet read, `100 Continue` not yet sent).
    func headReceived(_ head: HTTPRequestHead, peer: SocketAddress, on connection: HTTPServerConnection) -> HeadDecision
}

extension HTTPRequestHandler {
    public func headReceived(_ head: HTTPRequestHead, peer: SocketAddress, on connection: HTTPServerConnection) -> HeadDecision {
        .proceed(maxBodyBytes: nil)
    }
}

/// Hears about the client side of a response that streams.
public protocol ResponseStreamDelegate: AnyObject {
    /// The outbound queue fell below the low watermark.
    func clientWritable()
    /// The client went away before the response ended.
    func clientClosed()
    /// The client sent its last byte (FIN) while the response is in progress. It may only
    /// have shut its sending side, or it may be gone: a producer that can write something
    /// harmless (an SSE comment) finds out, since a gone client answers it with a reset.
    func clientFinishedSending()
}

extension ResponseStreamDelegate {
    public func clientFinishedSending() {}
}
