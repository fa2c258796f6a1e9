/// One complete server-sent event.
public struct SSEEvent: Sendable {
    /// The `event:` field; empty when the event had none (the WHATWG default type "message").
    public var name: ArraySlice<UInt8>
    /// The `data:` lines joined by `\n` (no trailing newline). Empty when `isTooLarge`.
    public var data: ArraySlice<UInt8>
    /// The event's fields exceeded the scanner's cap: its data was dropped, not buffered.
    public var isTooLarge: Bool

    public init(name: ArraySlice<UInt8>, data: ArraySlice<UInt8>, isTooLarge: Bool = false) {
        self.name = name
        self.data = data
        self.isTooLarge = isTooLarge
    }

    /// Exact comparison of the event name.
    public func nameIs(_ s: StaticString) -> Bool {
        ASCII.equals(name, s)
    }

    /// Whether the data is exactly `[DONE]` (OpenAI's end-of-stream sentinel).
    public var isDone: Bool {
        ASCII.equals(data, "[DONE]")
    }
}

/// An incremental SSE splitter (WHATWG "event stream interpretation") fed arbitrary byte
/// splits. Lines end with `\n`, `\r\n` or `\r` (a `\r\n` split across two feeds counts once);
/// `data:` lines of one event are joined with `\n`; comment lines (`:`) and `id`/`retry`
/// fields are ignored; a blank line dispatches the event (an event with no `data` field is
/// not dispatched, as the spec says).
///
/// Memory is bounded by `maxEventBytes`: a partial line and the event's data together
/// never hold more. An event that exceeds it is reported once, with `isTooLarge` and no data,
/// when its blank line arrives; its bytes in between are dropped as they come.
///
/// Whole lines inside one feed are read in place; only a line split across feeds is copied.
/// Owner: one request on one loop.
public struct SSEScanner: Sendable {
    public let maxEventBytes: Int
    /// The unfinished line carried from the previous feed.
    private var line: [UInt8] = []
    /// The current partial line went over the cap: its remaining bytes are dropped.
    private var lineOverflow = false
    private var name: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var tooLarge = false
    /// The last feed ended with `\r`: a leading `\n` in the next one belongs to it.
    private var skipLF = false

    public init(maxEventBytes: Int = 1 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// Bytes buffered right now (the partial line and the event's name and data).
    public var bufferedBytes: Int { line.count + name.count + data.count }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onEvent: (SSEEvent) -> Void) {
        let n = bytes.count
        var i = 0
        if skipLF && n > 0 {
            skipLF = false
            if bytes[0] == 0x0A { i = 1 }
        }
        while i < n {
            var j = i
            while j < n {
                let c = bytes[j]
                if c == 0x0A || c == 0x0D { break }
                j += 1
            }
            if j == n {
                carry(UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                return
            }
            if line.isEmpty && !lineOverflow {
                processLine(UnsafeRawBufferPointer(rebasing: bytes[i..<j]), onEvent)
            } else {
                carry(UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                let overflowed = lineOverflow
                lineOverflow = false
                if overflowed {
                    // A line too long to keep: its event cannot be delivered whole.
                    tooLarge = true
                    data = []
                    line = []
                } else {
                    let held = line
                    line.removeAll(keepingCapacity: true)
                    held.withUnsafeBytes { processLine($0, onEvent) }
                }
            }
            if bytes[j] == 0x0D {
                if j + 1 < n {
                    i = bytes[j + 1] == 0x0A ? j + 2 : j + 1
                } else {
                    skipLF = true
                    i = j + 1
                }
            } else {
                i = j + 1
            }
        }
    }

    public mutating func feed(_ bytes: ArraySlice<UInt8>, _ onEvent: (SSEEvent) -> Void) {
        bytes.withUnsafeBytes { feed($0, onEvent) }
    }

    public mutating func feed(_ bytes: [UInt8], _ onEvent: (SSEEvent) -> Void) {
        bytes.withUnsafeBytes { feed($0, onEvent) }
    }

    /// End of stream. The spec drops an event with no closing blank line; this is lenient and
    /// dispatches it (an upstream that closes right after its last `data:` line still counts).
    public mutating func finish(_ onEvent: (SSEEvent) -> Void) {
        if !line.isEmpty || lineOverflow {
            if lineOverflow {
                tooLarge = true
            } else {
                let held = line
                held.withUnsafeBytes { processLine($0, onEvent) }
            }
            line = []
            lineOverflow = false
        }
        dispatch(onEvent)
        skipLF = false
    }

    private mutating func carry(_ part: UnsafeRawBufferPointer) {
        if lineOverflow { return }
        if line.count + data.count + part.count > maxEventBytes {
            lineOverflow = true
            line = []
            return
        }
        line.append(contentsOf: part)
    }

    private mutating func processLine(_ l: UnsafeRawBufferPointer, _ onEvent: (SSEEvent) -> Void) {
        if l.isEmpty {
            dispatch(onEvent)
            return
        }
        if l[0] == UInt8(ascii: ":") { return }
        var colon = 0
        while colon < l.count && l[colon] != UInt8(ascii: ":") { colon += 1 }
        let field = UnsafeRawBufferPointer(rebasing: l[0..<colon])
        var v = colon < l.count ? colon + 1 : l.count
        if v < l.count && l[v] == 0x20 { v += 1 }
        let value = UnsafeRawBufferPointer(rebasing: l[v..<l.count])
        if Self.fieldIs(field, "data") {
            hasData = true
            if tooLarge { return }
            if data.count + value.count + 1 + name.count > maxEventBytes {
                tooLarge = true
                data = []
                return
            }
            data.append(contentsOf: value)
            data.append(0x0A)
        } else if Self.fieldIs(field, "event") {
            name.removeAll(keepingCapacity: true)
            if value.count <= 256 { name.append(contentsOf: value) } else { tooLarge = true; data = [] }
        }
    }

    private mutating func dispatch(_ onEvent: (SSEEvent) -> Void) {
        if tooLarge {
            onEvent(SSEEvent(name: name[...], data: [], isTooLarge: true))
        } else if hasData {
            onEvent(SSEEvent(name: name[...], data: data[0..<(data.count - 1)]))
        }
        name.removeAll(keepingCapacity: true)
        data.removeAll(keepingCapacity: data.capacity <= 64 * 1024)
        hasData = false
        tooLarge = false
    }

    @inline(__always)
    private static func fieldIs(_ f: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard f.count == s.utf8CodeUnitCount else { return false }
        return s.withUTF8Buffer { p in f.elementsEqual(p) }
    }
}
