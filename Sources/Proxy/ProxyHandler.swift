import Reactor

/// The request handler of one loop: answers `/health`, forwards `/v1/*` upstream, and
/// owns that loop's upstream pool. Owner: one loop.
public final class ProxyHandler: HTTPRequestHandler, @unchecked Sendable {
    public let loop: Loop
    public let config: ProxyConfig
    public let pool: UpstreamPool

    public init(loop: Loop, config: ProxyConfig) {
        self.loop = loop
        self.config = config
        self.pool = UpstreamPool(loop: loop, settings: config.pool)
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {
        let target = request.head.targetBytes
        if ASCII.hasPrefix(target, "/v1/") {
            guard let upstream = config.upstream else {
                return Self.fail(connection, 503, "no upstream is configured")
            }
            let attempt = Attempt(handler: self, client: connection, request: request, target: upstream)
            connection.userData = attempt
            attempt.start()
            return
        }
        if ASCII.equalsIgnoringCase(target, "/health") || ASCII.hasPrefix(target, "/health?") {
            return connection.respond(status: 200, body: Array(#"{"status":"ok"}"#.utf8))
        }
        Self.fail(connection, 404, "no route for this path")
    }

    static func fail(_ c: HTTPServerConnection, _ status: Int, _ message: String) {
        c.respond(status: status, body: ErrorBody.anthropic(status: status, message: message))
    }
}
