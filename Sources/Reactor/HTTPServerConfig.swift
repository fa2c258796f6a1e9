/// Limits and timeouts of the HTTP/1.1 server side.
public struct HTTPServerConfig: Sendable {
    public var maxHeadBytes = 64 * 1024
    public var maxBodyBytes = 32 * 1024 * 1024
    public var headerTimeoutNanos: UInt64 = 15 * nanosPerSecond
    public var idleTimeoutNanos: UInt64 = 120 * nanosPerSecond
    /// Outbound queue sizes between which a streaming producer is paused and resumed.
    public var writeHighWatermark = 256 * 1024
    public var writeLowWatermark = 64 * 1024
    /// Builds the JSON body of an error the server answers by itself (400, 408, 413, 431).
    public var errorBody: @Sendable (_ status: Int, _ message: String) -> [UInt8] = { _, m in
        Array("{\"error\":\"\(m)\"}".utf8)
    }

    public init() {}
}

/// One request with its whole body (bodies are kept so a request can be replayed to
/// another upstream on failover).
public struct HTTPRequest {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    public var peer: SocketAddress
}

/// The application side of the server: one per loop.
public protocol HTTPRequestHandler: AnyObject {
    /// A complete request arrived on `connection`; answer it with the connection's
    /// response calls, now or later, exactly once.
    func handle(_ request: HTTPRequest, on connection: HTTPServerConnection)
}

/// Hears about the client side of a response that streams.
public protocol ResponseStreamDelegate: AnyObject {
    /// The outbound queue fell below the low watermark.
    func clientWritable()
    /// The client went away before the response ended.
    func clientClosed()
}
