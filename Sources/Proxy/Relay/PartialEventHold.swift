/// Keeps a client's event stream at event boundaries: of each upstream read, the bytes up
/// to the last blank line (the end of the last whole event) go out at once, and only the
/// unfinished event after it is held, until a later read finishes it. An upstream that
/// writes whole events (every LLM API does, one or more per read) is never held at all.
///
/// Why: when a stream breaks after the commit point, ccload appends the protocol's error
/// event. Glued to a partial event (`data: {"type":"message_del` + `event: error…`), the
/// client's parser (WHATWG event-stream interpretation, as the Anthropic and OpenAI SDKs
/// implement it) reads one garbled event, then raises a JSON decode error instead of the
/// API error. No bytes appended afterwards can repair that: a line break ends the `data:`
/// line, the field's value stays in the event's data buffer, and the next blank line
/// dispatches it, truncated JSON and all (the OpenAI SDKs decode every event's data; a
/// later `event:` line only renames the event). So the partial event must never reach the
/// client, and holding it costs the client nothing: no SSE client can use part of an event.
///
/// An event larger than `maxHeldBytes` goes out unfinished (memory stays bounded);
/// `clientMidEvent` then says so until its end passes, and a break in that window cannot
/// end with a clean error event. Owner: one response on one loop.
struct PartialEventHold {
    /// Larger than any event an LLM API sends (a Responses `response.completed` carries the
    /// whole answer), small enough to bound a hostile upstream.
    static let maxHeldBytes = 1 << 20

    /// The bytes after the last blank line, not yet sent.
    private(set) var held: [UInt8] = []
    /// The client has part of an event (one that outgrew the hold went out unfinished).
    private(set) var clientMidEvent = false
    /// The last two bytes before the current read (LF LF at the start: a boundary).
    private var prev1: UInt8 = 0x0A
    private var prev2: UInt8 = 0x0A

    /// Whether the client's stream stands at an event boundary once `held` is dropped.
    var canEndCleanly: Bool { !clientMidEvent }

    /// Passes `bytes` on through `emit` up to their last event boundary; holds the rest.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void) {
        let n = bytes.count
        guard n > 0 else { return }
        let boundary = lastBoundary(bytes)
        if n >= 2 {
            prev2 = bytes[n - 2]
            prev1 = bytes[n - 1]
        } else {
            prev2 = prev1
            prev1 = bytes[0]
        }
        guard let b = boundary else {
            held.append(contentsOf: bytes)
            if held.count > PartialEventHold.maxHeldBytes {
                clientMidEvent = true
                flush(emit)
            }
            return
        }
        clientMidEvent = false
        if held.isEmpty {
            emit(UnsafeRawBufferPointer(rebasing: bytes[0..<b]))
        } else {
            held.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<b]))
            flush(emit)
        }
        if b < n { held.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[b..<n])) }
    }

    /// Sends what is held as it is (the upstream ended its body there).
    mutating func flush(_ emit: (UnsafeRawBufferPointer) -> Void) {
        guard !held.isEmpty else { return }
        held.withUnsafeBytes { emit($0) }
        held.removeAll(keepingCapacity: held.capacity <= 64 * 1024)
    }

    /// Forgets what is held (the stream breaks; the partial event is never sent).
    mutating func drop() {
        held = []
    }

    /// The index just past the last blank line's terminator in `bytes`, nil when there is
    /// none. A blank line is a line terminator (`\n`, `\r\n` or `\r`) right after another;
    /// scanning back from the end finds it in O(1) for a read that ends with an event.
    private func lastBoundary(_ bytes: UnsafeRawBufferPointer) -> Int? {
        // Byte i of the stream, with the two bytes before this read at -1 and -2.
        @inline(__always) func at(_ i: Int) -> UInt8 { i >= 0 ? bytes[i] : (i == -1 ? prev1 : prev2) }
        @inline(__always) func isEOL(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D }
        var k = bytes.count - 1
        while k >= 0 {
            let c = bytes[k]
            if !isEOL(c) {
                k -= 1
                continue
            }
            // A CR followed by LF ends its terminator at the LF, which was looked at already.
            if c == 0x0D && k + 1 < bytes.count && bytes[k + 1] == 0x0A {
                k -= 1
                continue
            }
            let start = c == 0x0A && at(k - 1) == 0x0D ? k - 1 : k
            if isEOL(at(start - 1)) { return k + 1 }
            k = start - 1
        }
        return nil
    }
}
