import Reactor

/// Carries one upstream response to the client: the client head with framing fitted to
/// the client (length as is, chunks passed through, chunks added, or until close for
/// HTTP/1.0), then each upstream read as it arrives. Shared by the pass-through attempt
/// and the relay.
struct ResponseForwarder {
    /// How upstream body bytes become client body bytes.
    enum Mode {
        /// Forward the bytes as read (length-delimited body, or chunked to a chunked client).
        case raw
        /// Forward de-chunked data; the client connection frames it (chunked or until close).
        case data
    }

    private(set) var mode = Mode.raw

    /// Writes the client head for `head` (held until the first body write unless `flushNow`).
    /// With `reframe`, a chunked upstream body is de-chunked and chunked anew rather than
    /// passed through, so ccload always knows where a chunk ends.
    mutating func begin(_ head: HTTPResponseHead, client: HTTPServerConnection, requestIsHEAD: Bool, flushNow: Bool,
                        reframe: Bool = false) {
        var out: [UInt8] = []
        out.reserveCapacity(head.bytes.count + 64)
        let framing: HTTPServerConnection.BodyFraming
        let noBody = requestIsHEAD || head.status == 204 || head.status == 304
        if noBody || head.contentLength != nil {
            HeaderRewriter.clientResponse(head, keepLength: true, into: &out)
            framing = .asIs
            mode = .raw
        } else if client.requestVersionMinor >= 1 {
            HeaderRewriter.clientResponse(head, keepLength: false, into: &out)
            HTTP1Writer.appendHeader(&out, name: "Transfer-Encoding", value: "chunked")
            if head.chunked && !reframe {
                framing = .asIs  // the upstream's chunk framing passes through untouched
                mode = .raw
            } else {
                framing = .chunked
                mode = .data
            }
        } else {
            // An HTTP/1.0 client cannot take chunks: the body ends when the connection closes.
            HeaderRewriter.clientResponse(head, keepLength: false, into: &out)
            client.disableKeepAlive()
            framing = .untilClose
            mode = .data
        }
        client.appendConnectionHeader(&out)
        HTTP1Writer.appendEndOfHead(&out)
        out.withUnsafeBytes { client.startResponse(head: $0, framing: framing, flushNow: flushNow) }
    }

    /// Writes an SSE comment line (ignored by every client) when the body is framed by
    /// ccload: after a client's FIN it tells a half-closed client, which reads it, from a
    /// gone one, whose kernel answers with a reset.
    func probe(_ client: HTTPServerConnection) {
        guard mode == .data else { return }
        let comment: StaticString = ":\n\n"
        client.writeBody(UnsafeRawBufferPointer(start: comment.utf8Start, count: comment.utf8CodeUnitCount))
    }

    /// Forwards one read's raw bytes (when in raw mode). Returns whether the client is congested.
    @inline(__always)
    func raw(_ bytes: UnsafeRawBufferPointer, to client: HTTPServerConnection) -> Bool {
        guard mode == .raw else { return false }
        client.writeRaw(bytes)
        return client.isCongested
    }

    /// Forwards de-chunked data (when in data mode). Returns whether the client is congested.
    @inline(__always)
    func data(_ bytes: UnsafeRawBufferPointer, to client: HTTPServerConnection) -> Bool {
        guard mode == .data else { return false }
        client.writeBody(bytes)
        return client.isCongested
    }
}
