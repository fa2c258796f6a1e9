// Incremental HTTP/1.1 request parser for the client side of the proxy.
//
// Strict by design: every request-smuggling vector (ambiguous framing, odd whitespace, bare
// CR/LF, obs-fold, unknown transfer codings) is rejected rather than guessed at.

public struct HTTP1RequestParser {
    private enum Phase { case head, body, dead }

    public let maxHeadBytes: Int
    public let maxBodyBytes: Int
    /// The body cap of the current request: `maxBodyBytes`, or lower after `limitBody(to:)`.
    public private(set) var bodyLimit: Int

    /// The current request's head: valid from `.head` until the next request starts.
    public private(set) var head: HTTPRequestHead?

    private var phase = Phase.head
    private var failure = HTTPParseError.malformed("parser failed")
    private var reader = HTTP1HeadReader()
    private var body = HTTP1BodyDecoder()

    public init(maxHeadBytes: Int = 65536, maxBodyBytes: Int) {
        precondition(maxHeadBytes > 0 && maxBodyBytes >= 0)
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
        self.bodyLimit = maxBodyBytes
    }

    /// Right after `.head`: caps this request's body at `limit` (below `maxBodyBytes`).
    /// False when its Content-Length is already larger (the caller answers 413); a chunked
    /// body past the cap is reported as `.error(.bodyTooLarge)` while it is read.
    public mutating func limitBody(to limit: Int) -> Bool {
        guard phase == .body, let h = head else { return true }
        bodyLimit = min(bodyLimit, max(0, limit))
        if h.chunked {
            body.lowerChunkedLimit(to: bodyLimit)
            return true
        }
        if (h.contentLength ?? 0) > bodyLimit {
            _ = fail(.bodyTooLarge)
            return false
        }
        return true
    }

    /// Between requests with nothing buffered.
    public var isIdle: Bool { phase == .head && reader.isEmpty }

    /// The next event from `buf[offset...]`, advancing `offset` past what it consumed. Call
    /// again until `.needMore` (all of `buf` consumed) or `.error` (the parser is dead).
    /// `.body` ranges index `buf`. A `Content-Length` above `maxBodyBytes` is reported as
    /// `.error(.bodyTooLarge)` in place of `.head`, with `head` set.
    public mutating func next(_ buf: UnsafeRawBufferPointer, _ offset: inout Int) -> HTTPParseEvent {
        switch phase {
        case .dead:
            return .error(failure)
        case .body:
            let event = body.next(buf, &offset, trailerReader: &reader, maxTrailerBytes: maxHeadBytes)
            switch event {
            case .end: phase = .head
            case .error(let e): return fail(e)
            default: break
            }
            return event
        case .head:
            guard offset < buf.count else { return .needMore }
            head = nil
            bodyLimit = maxBodyBytes
            let bytes: [UInt8]
            switch reader.readHead(buf, &offset, limit: maxHeadBytes) {
            case .needMore: return .needMore
            case .error(let e): return fail(e)
            case .head(let b): bytes = b
            }
            let parsed: HTTPRequestHead
            do {
                parsed = try HTTPRequestHead(parsing: bytes)
            } catch {
                return fail(error)
            }
            head = parsed
            if parsed.chunked {
                body.startChunked(maxBodyBytes: maxBodyBytes)
            } else if let length = parsed.contentLength {
                guard length <= maxBodyBytes else { return fail(.bodyTooLarge) }
                body.startFixed(length)
            } else {
                body.startNone()
            }
            phase = .body
            return .head
        }
    }

    private mutating func fail(_ e: HTTPParseError) -> HTTPParseEvent {
        phase = .dead
        failure = e
        return .error(e)
    }
}

extension HTTPRequestHead {
    /// Parses and validates a complete request head (request line through CRLFCRLF).
    init(parsing bytes: [UInt8]) throws(HTTPParseError) {
        var fields: [HTTPHeaderField] = []
        fields.reserveCapacity(16)
        let (method, target, minor, section) = try bytes.withUnsafeBufferPointer {
            p throws(HTTPParseError) -> (Range<Int>, Range<Int>, Int, HTTPFieldSection) in
            // request-line = method SP request-target SP HTTP-version CRLF
            var i = 0
            while HTTPGrammar.isTokenByte(p[i]) { i += 1 }
            guard i > 0, p[i] == HTTPGrammar.sp else { throw .malformed("invalid method") }
            let method = 0..<i
            i += 1
            let targetStart = i
            while p[i] &- 0x21 < 0x5E { i += 1 }
            guard i > targetStart, p[i] == HTTPGrammar.sp else { throw .malformed("invalid request target") }
            let target = targetStart..<i
            i += 1
            let minor = try HTTPGrammar.version(p, at: i)
            i += 8
            guard p[i] == HTTPGrammar.cr, p[i + 1] == HTTPGrammar.lf else {
                throw .malformed("invalid request line")
            }
            let section = try HTTPFieldSection(p, from: i + 2, fields: &fields, collect: true)
            return (method, target, minor, section)
        }

        if section.transferEncoding != .absent {
            guard section.contentLength == nil else {
                throw .malformed("conflicting Content-Length and Transfer-Encoding")
            }
            guard minor == 1 else { throw .malformed("Transfer-Encoding in HTTP/1.0 request") }
            guard section.transferEncoding == .chunked else { throw .malformed("unsupported Transfer-Encoding") }
        }
        guard section.hostCount <= 1 else { throw .malformed("multiple Host headers") }
        guard section.hostCount == 1 || minor == 0 else { throw .malformed("missing Host header") }

        self.bytes = bytes
        self.method = method
        self.target = target
        self.versionMinor = minor
        self.fields = fields
        self.contentLength = section.contentLength
        self.chunked = section.transferEncoding == .chunked
        self.keepAlive = minor == 1 ? !section.connectionClose : section.connectionKeepAlive && !section.connectionClose
        self.expectContinue = minor == 1 && section.expectContinue
    }
}
