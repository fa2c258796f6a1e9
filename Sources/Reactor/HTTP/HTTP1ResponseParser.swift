// Incremental HTTP/1.1 response parser for the upstream side of the proxy.
//
// Interim 1xx responses are parsed and dropped, at most `maxInterimResponses` of them and
// `maxInterimBytes` in all before a final response; more is an error, and so is a 101 (the
// proxy never asks to switch protocols). Framing follows RFC 9112
// 6.3: no body for HEAD, 1xx, 204 and 304; then chunked; then Content-Length; otherwise the
// body runs until the server closes. Ambiguous framing (Content-Length with
// Transfer-Encoding, a coding other than a single "chunked") is refused.

public struct HTTP1ResponseParser {
    private enum Phase { case head, body, dead }

    public let maxHeadBytes: Int

    /// The current response's final head: valid from `.head` until the next response starts.
    public private(set) var head: HTTPResponseHead?

    private var phase = Phase.head
    private var failure = HTTPParseError.malformed("parser failed")
    private var reader = HTTP1HeadReader()
    private var body = HTTP1BodyDecoder()
    private var requestWasHEAD = false
    /// Bytes of the current response (an interim response included) were consumed.
    private var started = false
    /// Interim responses before the current final one, and their bytes.
    private var interimCount = 0
    private var interimBytes = 0
    public static let maxInterimResponses = 8
    public static let maxInterimBytes = 64 * 1024

    public init(maxHeadBytes: Int = 65536) {
        precondition(maxHeadBytes > 0)
        self.maxHeadBytes = maxHeadBytes
    }

    /// Set before each response: the answer to a HEAD request has no body.
    public mutating func expect(requestMethodHEAD: Bool) {
        requestWasHEAD = requestMethodHEAD
    }

    /// The body of the current response ends when the server closes the connection.
    public var bodyIsUntilClose: Bool { phase == .body && body.isUntilClose }

    /// The next event from `buf[offset...]`, advancing `offset` past what it consumed. Call
    /// again until `.needMore` (all of `buf` consumed) or `.error` (the parser is dead).
    /// `.body` ranges index `buf`.
    public mutating func next(_ buf: UnsafeRawBufferPointer, _ offset: inout Int) -> HTTPParseEvent {
        switch phase {
        case .dead:
            return .error(failure)
        case .body:
            let event = body.next(buf, &offset, trailerReader: &reader, maxTrailerBytes: maxHeadBytes)
            switch event {
            case .end:
                phase = .head
                started = false
            case .error(let e):
                return fail(e)
            default:
                break
            }
            return event
        case .head:
            while true {
                guard offset < buf.count else { return .needMore }
                if !started {
                    head = nil
                    started = true
                    interimCount = 0
                    interimBytes = 0
                }
                let bytes: [UInt8]
                switch reader.readHead(buf, &offset, limit: maxHeadBytes) {
                case .needMore: return .needMore
                case .error(let e): return fail(e)
                case .head(let b): bytes = b
                }
                let parsed: HTTPResponseHead
                let framing: HTTPResponseHead.Framing
                do {
                    (parsed, framing) = try HTTPResponseHead.parse(bytes, requestWasHEAD: requestWasHEAD)
                } catch {
                    return fail(error)
                }
                switch framing {
                case .interim:
                    interimCount += 1
                    interimBytes += bytes.count
                    if interimCount > Self.maxInterimResponses || interimBytes > Self.maxInterimBytes {
                        return fail(.malformed("more than \(Self.maxInterimResponses) interim (1xx) responses or \(Self.maxInterimBytes) bytes of them"))
                    }
                    continue
                case .none:
                    body.startNone()
                case .length(let n):
                    body.startFixed(n)
                case .chunked:
                    body.startChunked(maxBodyBytes: Int.max)
                case .untilClose:
                    body.startUntilClose()
                }
                head = parsed
                phase = .body
                return .head
            }
        }
    }

    /// The connection reached EOF. `.end` when that completes the message (a body read
    /// until close, or a complete body whose `.end` was not yet taken); otherwise an error.
    public mutating func finishOnEOF() -> HTTPParseEvent {
        switch phase {
        case .dead:
            return .error(failure)
        case .head:
            if !started && reader.isEmpty {
                return fail(.malformed("connection closed before response"))
            }
            return fail(.malformed("connection closed mid-message"))
        case .body:
            guard body.isUntilClose || body.isComplete else {
                return fail(.malformed("connection closed mid-message"))
            }
            phase = .head
            started = false
            return .end
        }
    }

    private mutating func fail(_ e: HTTPParseError) -> HTTPParseEvent {
        phase = .dead
        failure = e
        return .error(e)
    }
}

extension HTTPResponseHead {
    /// How the body of a parsed response is delimited.
    enum Framing: Equatable {
        /// A 1xx: drop it and read the next head.
        case interim
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    /// Parses and validates a complete response head (status line through CRLFCRLF).
    static func parse(_ bytes: [UInt8], requestWasHEAD: Bool) throws(HTTPParseError) -> (HTTPResponseHead, Framing) {
        var fields: [HTTPHeaderField] = []
        fields.reserveCapacity(16)
        let (minor, status, reason, section) = try bytes.withUnsafeBufferPointer {
            p throws(HTTPParseError) -> (Int, Int, Range<Int>, HTTPFieldSection) in
            // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
            let minor = try HTTPGrammar.version(p, at: 0)
            var i = 8
            guard p[i] == HTTPGrammar.sp else { throw .malformed("invalid status line") }
            i += 1
            let d0 = p[i] &- HTTPGrammar.zero
            let d1 = p[i + 1] &- HTTPGrammar.zero
            let d2 = p[i + 2] &- HTTPGrammar.zero
            guard d0 < 10, d1 < 10, d2 < 10 else { throw .malformed("invalid status code") }
            let status = Int(d0) * 100 + Int(d1) * 10 + Int(d2)
            guard status >= 100 else { throw .malformed("invalid status code") }
            i += 3
            // Tolerated: an empty reason, with or without its SP.
            if p[i] == HTTPGrammar.sp {
                i += 1
            } else if p[i] != HTTPGrammar.cr {
                throw .malformed("invalid status line")
            }
            let reasonStart = i
            while p[i] == HTTPGrammar.htab || (p[i] >= HTTPGrammar.sp && p[i] != 0x7F) { i += 1 }
            let reason = reasonStart..<i
            guard p[i] == HTTPGrammar.cr, p[i + 1] == HTTPGrammar.lf else {
                throw .malformed("invalid status line")
            }
            let section = try HTTPFieldSection(p, from: i + 2, fields: &fields, collect: true)
            return (minor, status, reason, section)
        }

        if section.transferEncoding != .absent {
            guard section.contentLength == nil else {
                throw .malformed("conflicting Content-Length and Transfer-Encoding")
            }
            guard section.transferEncoding == .chunked else { throw .malformed("unsupported Transfer-Encoding") }
        }

        // The proxy never sends Upgrade: a switch of protocols is an upstream fault, not a body.
        guard status != 101 else { throw .malformed("unsolicited 101 Switching Protocols") }
        let framing: Framing
        if status < 200 {
            framing = .interim
        } else if requestWasHEAD || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if section.transferEncoding == .chunked {
            framing = .chunked
        } else if let length = section.contentLength {
            framing = .length(length)
        } else {
            framing = .untilClose
        }

        let persistent = minor == 1 ? !section.connectionClose : section.connectionKeepAlive && !section.connectionClose
        let head = HTTPResponseHead(
            bytes: bytes, status: status, reason: reason, versionMinor: minor, fields: fields,
            contentLength: section.contentLength, chunked: section.transferEncoding == .chunked,
            keepAlive: persistent && framing != .untilClose && status != 101)
        return (head, framing)
    }
}
