import Reactor

/// Carries one upstream response to the client: the client head with framing fitted to
/// the client (length as is, chunks passed through, chunks added, or until close for
/// HTTP/1.0), then each upstream read as it arrives. Shared by the pass-through attempt
/// and the relay.
///
/// An event stream ccload frames (`reframe`, `.data` mode) goes out at event boundaries
/// (`PartialEventHold`): what a read completes is written at once, an unfinished event
/// waits for its end. So when the stream breaks, `endWithErrorEvent` can drop the partial
/// event and append the protocol's error event as an event of its own.
struct ResponseForwarder {
    /// How upstream body bytes become client body bytes.
    enum Mode {
        /// Forward the bytes as read (length-delimited body, or chunked to a chunked client).
        case raw
        /// Forward de-chunked data; the client connection frames it (chunked or until close).
        case data
    }

    private(set) var mode = Mode.raw
    /// Set for an event stream in `.data` mode: the client only ever gets whole events.
    private var events: PartialEventHold?

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
        events = reframe && mode == .data ? PartialEventHold() : nil
        client.appendConnectionHeader(&out)
        HTTP1Writer.appendEndOfHead(&out)
        out.withUnsafeBytes { client.startResponse(head: $0, framing: framing, flushNow: flushNow) }
    }

    /// Writes an SSE comment line (ignored by every client) when the body is framed by
    /// ccload: after a client's FIN it tells a half-closed client, which reads it, from a
    /// gone one, whose kernel answers with a reset.
    func probe(_ client: HTTPServerConnection) {
        // Only between events: a comment and blank line inside one would dispatch it early.
        guard mode == .data, events?.canEndCleanly ?? true else { return }
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

    /// Forwards de-chunked data (when in data mode); an event stream's unfinished last
    /// event waits for its end. Returns whether the client is congested.
    @inline(__always)
    mutating func data(_ bytes: UnsafeRawBufferPointer, to client: HTTPServerConnection) -> Bool {
        guard mode == .data else { return false }
        if events == nil {
            client.writeBody(bytes)
        } else {
            events!.feed(bytes) { client.writeBody($0) }
        }
        return client.isCongested
    }

    /// The upstream body ended: what is held goes out as the upstream sent it.
    mutating func finish(_ client: HTTPServerConnection) {
        events?.flush { client.writeBody($0) }
    }

    /// The stream breaks: when it is an event stream ccload frames and the client stands
    /// at an event boundary (the partial event held back is dropped), writes `event`
    /// (the protocol's error event) and returns true; false leaves the caller to abort.
    mutating func endWithErrorEvent(_ event: [UInt8]?, _ client: HTTPServerConnection) -> Bool {
        guard let event, mode == .data, let hold = events, hold.canEndCleanly else { return false }
        events!.drop()
        event.withUnsafeBytes { client.writeBody($0) }
        return true
    }
}
