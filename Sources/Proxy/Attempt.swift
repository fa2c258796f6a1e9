import Reactor
import TLS

/// One request's trip upstream: get a connection (pooled or new), send, wait for the
/// response head under the first-byte timeout, then stream every read to the client
/// as it arrives, pausing the upstream while the client is congested.
/// A pooled connection found closed before any response byte gets one retry on a
/// fresh connection. Owner: the client connection's loop.
final class Attempt: HTTPClientDelegate, ResponseStreamDelegate, TimerTarget, @unchecked Sendable {
    /// How upstream body bytes become client body bytes.
    private enum Relay {
        /// Forward the bytes as read (length-delimited body, or chunked to a chunked client).
        case raw
        /// Forward de-chunked data; the client connection frames it (chunked or until close).
        case data
    }

    private unowned let handler: ProxyHandler
    private let client: HTTPServerConnection
    private let request: HTTPRequest
    private let target: UpstreamTarget
    private var upstream: HTTPClientConnection?
    private var connector: Dial?
    private var retried = false
    private var headSent = false
    private var finished = false
    private var relay = Relay.raw
    private lazy var firstByteTimer = LoopTimer(target: self)
    private let isHEAD: Bool

    init(handler: ProxyHandler, client: HTTPServerConnection, request: HTTPRequest, target: UpstreamTarget) {
        self.handler = handler
        self.client = client
        self.request = request
        self.target = target
        self.isHEAD = request.head.methodIs("HEAD")
    }

    func start() {
        client.streamDelegate = self
        if let c = handler.pool.checkout(target) {
            send(on: c)
        } else {
            dialFresh()
        }
    }

    private func dialFresh() {
        connector = handler.pool.dial(target) { [self] result in
            connector = nil
            guard !finished else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c):
                handler.pool.noteOpened()
                send(on: c)
            case .failure(let e):
                failBeforeHead(status: 502, "upstream unreachable: \(e)")
            }
        }
    }

    private func send(on c: HTTPClientConnection) {
        upstream = c
        let head = HeaderRewriter.upstreamRequest(request.head, pathPrefix: target.pathPrefix, hostHeader: target.hostHeader,
                                                  key: handler.config.upstreamKey, bodyLength: request.body.count)
        handler.loop.arm(firstByteTimer, afterNanos: handler.config.firstByteTimeoutNanos)
        c.send(head: head, body: request.body, isHEAD: isHEAD, delegate: self)
    }

    // MARK: upstream events

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        handler.loop.disarm(firstByteTimer)
        var out: [UInt8] = []
        out.reserveCapacity(head.bytes.count + 64)
        let framing: HTTPServerConnection.BodyFraming
        let noBody = isHEAD || head.status == 204 || head.status == 304
        if noBody || head.contentLength != nil {
            HeaderRewriter.clientResponse(head, keepLength: true, into: &out)
            framing = .asIs
            relay = .raw
        } else if client.requestVersionMinor >= 1 {
            HeaderRewriter.clientResponse(head, keepLength: false, into: &out)
            HTTP1Writer.appendHeader(&out, name: "Transfer-Encoding", value: "chunked")
            if head.chunked {
                framing = .asIs  // the upstream's chunk framing passes through untouched
                relay = .raw
            } else {
                framing = .chunked
                relay = .data
            }
        } else {
            HeaderRewriter.clientResponse(head, keepLength: false, into: &out)
            framing = .untilClose
            relay = .data
        }
        client.appendConnectionHeader(&out)
        HTTP1Writer.appendEndOfHead(&out)
        headSent = true
        out.withUnsafeBytes { client.startResponse(head: $0, framing: framing, flushNow: !bodyBytesFollow) }
    }

    func responseRaw(_ raw: UnsafeRawBufferPointer) {
        guard relay == .raw else { return }
        client.writeRaw(raw)
        if client.isCongested { upstream?.pauseReading() }
    }

    func responseData(_ data: UnsafeRawBufferPointer) {
        guard relay == .data else { return }
        client.writeBody(data)
        if client.isCongested { upstream?.pauseReading() }
    }

    func responseEnd() {
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        if let c = upstream, c.state == .idle { handler.pool.release(c, target) }
        upstream = nil
        client.endResponse()
    }

    func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        guard !finished else { return }
        let c = upstream
        upstream = nil
        if !headSent {
            if let c, c.isReused, !receivedBytes, !retried {
                // A pooled connection the upstream had already closed: one safe retry.
                retried = true
                handler.loop.disarm(firstByteTimer)
                dialFresh()
                return
            }
            return failBeforeHead(status: 502, "upstream failed: \(error)")
        }
        // After the head went out the only honest ending is an incomplete body.
        finished = true
        client.abortResponse()
    }

    // MARK: client events

    func clientWritable() {
        upstream?.resumeReading()
    }

    func clientClosed() {
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        connector?.cancel()
        connector = nil
        upstream?.close()  // never back to the pool mid-response
        upstream = nil
    }

    // MARK: timeouts and errors

    func timerFired(_ timer: LoopTimer) {
        guard !finished, !headSent else { return }
        upstream?.close()
        upstream = nil
        failBeforeHead(status: 504, "upstream sent no response headers within \(handler.config.firstByteTimeoutNanos / nanosPerSecond) s")
    }

    private func failBeforeHead(status: Int, _ message: String) {
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        ProxyHandler.fail(client, status, message)
    }
}
