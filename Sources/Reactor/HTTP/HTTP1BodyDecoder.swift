// HTTP/1.1 body framing, shared by the request and the response parser: a Content-Length
// body, a chunked body (RFC 9112 7.1), or a body read until the connection closes.
// Body bytes are reported as ranges of the caller's buffer, never copied.

struct HTTP1BodyDecoder {
    private enum State {
        /// The body is complete; the next call reports `.end`.
        case complete
        /// A Content-Length body with this many bytes left.
        case fixed(Int)
        /// Everything up to EOF is body.
        case untilClose
        /// Reading the hex digits of a chunk size.
        case chunkSize(value: UInt64, digits: Int)
        /// Whitespace after the chunk size, before ';' or CR; counts its bytes.
        case chunkSizeSpace(Int)
        /// Skipping a chunk extension up to CR; counts its bytes.
        case chunkExtension(Int)
        /// Saw the CR ending a chunk-size line.
        case chunkSizeLF
        case chunkData(Int)
        case chunkDataCR
        case chunkDataLF
        /// After the last chunk: the trailer section up to the empty line.
        case trailers
    }

    /// A chunk extension longer than this is refused.
    static let maxChunkExtensionBytes = 4096

    private var state = State.complete
    /// The size of the chunk whose size line is being read.
    private var pendingChunk = 0
    /// Chunked data seen so far in this message.
    private var total = 0
    private var maxBodyBytes = Int.max

    init() {}

    var isUntilClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// True when everything up to `.end` was read (only `.end` is left to report).
    var isComplete: Bool {
        if case .complete = state { return true }
        return false
    }

    mutating func startNone() { state = .complete }

    mutating func startFixed(_ length: Int) { state = length == 0 ? .complete : .fixed(length) }

    mutating func startUntilClose() { state = .untilClose }

    /// Lowers the cap of a chunked body just started (before any of it was read).
    mutating func lowerChunkedLimit(to limit: Int) { maxBodyBytes = min(maxBodyBytes, limit) }

    mutating func startChunked(maxBodyBytes: Int) {
        state = .chunkSize(value: 0, digits: 0)
        self.maxBodyBytes = maxBodyBytes
        total = 0
        pendingChunk = 0
    }

    /// The next body event from `buf[offset...]`. Trailer sections are delimited with
    /// `trailerReader` (the parser's idle head reader) and bounded by `maxTrailerBytes`.
    /// After `.end`, the decoder must be started again for the next message.
    mutating func next(
        _ buf: UnsafeRawBufferPointer, _ offset: inout Int,
        trailerReader: inout HTTP1HeadReader, maxTrailerBytes: Int
    ) -> HTTPParseEvent {
        let end = buf.count
        while true {
            switch state {
            case .complete:
                return .end
            case .fixed(let remaining):
                guard offset < end else { return .needMore }
                let n = min(remaining, end - offset)
                let range = offset..<(offset + n)
                offset += n
                state = n == remaining ? .complete : .fixed(remaining - n)
                return .body(range)
            case .untilClose:
                guard offset < end else { return .needMore }
                let range = offset..<end
                offset = end
                return .body(range)
            case .chunkData(let remaining):
                guard offset < end else { return .needMore }
                let n = min(remaining, end - offset)
                let range = offset..<(offset + n)
                offset += n
                state = n == remaining ? .chunkDataCR : .chunkData(remaining - n)
                return .body(range)
            case .trailers:
                switch trailerReader.read(buf, &offset, limit: maxTrailerBytes, skipLeadingEmptyLines: false) {
                case .needMore:
                    return .needMore
                case .error(let e):
                    return .error(e)
                case .inCaller(let range):
                    if let e = Self.validateTrailers(UnsafeRawBufferPointer(rebasing: buf[range])) {
                        return .error(e)
                    }
                case .inBuffer:
                    let e = trailerReader.buffered.withUnsafeBytes { Self.validateTrailers($0) }
                    trailerReader.reset()
                    if let e { return .error(e) }
                }
                state = .complete
                return .end
            default:
                // The framing bytes of a chunked body, one at a time (they are few).
                guard offset < end else { return .needMore }
                let c = buf[offset]
                offset += 1
                if let e = step(c) { return .error(e) }
            }
        }
    }

    /// Advances the chunk-line states by one byte.
    private mutating func step(_ c: UInt8) -> HTTPParseError? {
        switch state {
        case .chunkSize(let value, let digits):
            if let h = HTTPGrammar.hexValue(c) {
                guard digits < 16 else { return .malformed("invalid chunk size") }
                state = .chunkSize(value: value << 4 | UInt64(h), digits: digits + 1)
                return nil
            }
            guard digits > 0 else { return .malformed("invalid chunk size") }
            guard value <= UInt64(Int.max) else { return .malformed("invalid chunk size") }
            let size = Int(value)
            guard size <= maxBodyBytes - total else { return .bodyTooLarge }
            pendingChunk = size
            return afterChunkSize(c, spaces: 0)
        case .chunkSizeSpace(let count):
            return afterChunkSize(c, spaces: count)
        case .chunkExtension(let count):
            if c == HTTPGrammar.cr {
                state = .chunkSizeLF
            } else if c == HTTPGrammar.htab || (c >= HTTPGrammar.sp && c != 0x7F) {
                guard count < Self.maxChunkExtensionBytes else { return .malformed("chunk extension too long") }
                state = .chunkExtension(count + 1)
            } else {
                return .malformed("invalid chunk extension")
            }
            return nil
        case .chunkSizeLF:
            guard c == HTTPGrammar.lf else { return .malformed("invalid chunk size") }
            total += pendingChunk
            state = pendingChunk == 0 ? .trailers : .chunkData(pendingChunk)
            return nil
        case .chunkDataCR:
            guard c == HTTPGrammar.cr else { return .malformed("invalid chunk") }
            state = .chunkDataLF
            return nil
        case .chunkDataLF:
            guard c == HTTPGrammar.lf else { return .malformed("invalid chunk") }
            state = .chunkSize(value: 0, digits: 0)
            return nil
        default:
            preconditionFailure("not a chunk framing state")
        }
    }

    /// After the size digits: optional whitespace, then ';' and an extension, or CR.
    private mutating func afterChunkSize(_ c: UInt8, spaces: Int) -> HTTPParseError? {
        switch c {
        case HTTPGrammar.cr: state = .chunkSizeLF
        case HTTPGrammar.semicolon: state = .chunkExtension(spaces)
        case HTTPGrammar.sp, HTTPGrammar.htab:
            guard spaces < Self.maxChunkExtensionBytes else { return .malformed("chunk extension too long") }
            state = .chunkSizeSpace(spaces + 1)
        default: return .malformed("invalid chunk size")
        }
        return nil
    }

    /// Trailer fields get the same checks as header fields, then are dropped.
    private static func validateTrailers(_ raw: UnsafeRawBufferPointer) -> HTTPParseError? {
        let p = raw.assumingMemoryBound(to: UInt8.self)
        var unused: [HTTPHeaderField] = []
        do {
            _ = try HTTPFieldSection(p, from: 0, fields: &unused, collect: false)
            return nil
        } catch {
            return error
        }
    }
}
