// What an incremental HTTP/1.1 parser reported for a byte stream, independent of how the
// stream was cut into reads: heads, de-framed body bytes (merged across reads), ends and the
// final error. Two runs over the same bytes must give equal transcripts.

@testable import Reactor

enum TranscriptItem: Equatable {
    case head(HeadSummary)
    case body([UInt8])
    case end
    case error(HTTPParseError)
}

/// A head's raw bytes and everything parsed from them (all ranges index `bytes`).
struct HeadSummary: Equatable {
    var bytes: [UInt8]
    var fields: [HTTPHeaderField]
    var start: [Range<Int>]
    var numbers: [Int?]
    var flags: [Bool]
}

extension HeadSummary {
    init(_ h: HTTPRequestHead) {
        self.init(bytes: h.bytes, fields: h.fields, start: [h.method, h.target], numbers: [h.versionMinor, h.contentLength],
                  flags: [h.chunked, h.keepAlive, h.expectContinue])
    }

    init(_ h: HTTPResponseHead, untilClose: Bool) {
        self.init(bytes: h.bytes, fields: h.fields, start: [h.reason], numbers: [h.status, h.versionMinor, h.contentLength],
                  flags: [h.chunked, h.keepAlive, untilClose])
    }

    /// Every range lies inside the head's bytes; the head ends with CRLFCRLF.
    func checkShape() {
        let n = bytes.count
        check(n >= 4 && bytes[(n - 4)...].elementsEqual([13, 10, 13, 10]), "head does not end with CRLFCRLF: \(show(bytes))")
        for r in start { check(r.lowerBound >= 0 && r.upperBound <= n, "start-line range \(r) outside \(n) bytes") }
        for f in fields {
            check(f.name.lowerBound >= 0 && f.value.upperBound <= n && f.name.upperBound <= f.value.lowerBound,
                  "field ranges \(f) outside \(n) bytes")
            check(!f.name.isEmpty, "empty field name")
            if let first = f.value.first, let last = f.value.last {
                for c in [bytes[first], bytes[last]] { check(c != 0x20 && c != 0x09, "value not trimmed: \(show(bytes[f.value]))") }
            }
        }
    }
}

/// The parser's state after the last byte.
enum TranscriptTail: Equatable {
    /// A request parser that did not fail: whether it is between messages.
    case idle(Bool)
    /// A response parser: what the connection's end made of the last message, and what a
    /// second end-of-file answers.
    case eof(HTTPParseEvent, again: HTTPParseEvent)
}

struct Transcript: Equatable {
    var items: [TranscriptItem] = []
    var tail: TranscriptTail?

    mutating func append(_ item: TranscriptItem) {
        if case .body(let more) = item, case .body(var have)? = items.last {
            // Taken out first so the append is in place (not a copy per read: 1-byte reads
            // of a long body would make it quadratic).
            items.removeLast()
            have += more
            items.append(.body(have))
        } else {
            items.append(item)
        }
    }

    /// Body bytes straight from the parser's buffer (no array per read).
    mutating func appendBody(_ bytes: UnsafeRawBufferPointer) {
        if case .body(var have)? = items.last {
            items.removeLast()
            have.append(contentsOf: bytes)
            items.append(.body(have))
        } else {
            items.append(.body(Array(bytes)))
        }
    }
}

/// Calls `next` on `buf` until `.needMore`, `.error`, or `onEvent` returns false, checking
/// the offset and range contract on the way; `onEvent` also gets the offset after the event.
/// Returns true when `buf` was used up (`.needMore`).
func drain(_ buf: UnsafeRawBufferPointer, _ next: (UnsafeRawBufferPointer, inout Int) -> HTTPParseEvent,
           _ onEvent: (HTTPParseEvent, UnsafeRawBufferPointer, Int) -> Bool) -> Bool {
    var offset = 0
    var calls = 0
    while true {
        calls += 1
        // Each event consumes bytes or moves the message on (head, end); a loop that does
        // neither would spin here.
        check(calls <= 3 * buf.count + 16, "no progress after \(calls) calls on \(buf.count) bytes")
        let before = offset
        let event = next(buf, &offset)
        check(offset >= before && offset <= buf.count, "offset moved from \(before) to \(offset) of \(buf.count)")
        switch event {
        case .body(let r):
            // Chunk framing may come first; the data ends where the offset stops.
            check(r.lowerBound >= before && r.upperBound == offset && !r.isEmpty,
                  "body range \(r) is not the end of the bytes consumed \(before)..<\(offset)")
        case .needMore:
            check(offset == buf.count, ".needMore with \(buf.count - offset) bytes unread")
        default:
            break
        }
        if !onEvent(event, buf, offset) { return false }
        switch event {
        case .needMore: return true
        case .error: return false
        default: continue
        }
    }
}

func errorOf(_ e: HTTPParseEvent) -> HTTPParseError {
    if case .error(let err) = e { return err }
    return .malformed("not an error: \(e)")
}

extension FuzzInput {
    /// A head limit from one parameter byte: small (8 to 605 bytes) or the default 64 KiB.
    mutating func headLimit() -> Int {
        let h = byte()
        return h < 200 ? 8 + Int(h) * 3 : 65536
    }
}

/// Runs `parse` over the stream whole and in a random split; the transcripts must be equal.
func checkSplitInvariance(_ stream: [UInt8], _ rng: inout SplitMix, _ parse: ([Range<Int>]) -> Transcript) {
    let whole = parse(stream.isEmpty ? [] : [0..<stream.count])
    let split = parse(rng.pieces(stream.count))
    check(whole == split, "whole and split runs differ:\n whole \(whole)\n split \(split)")
}
