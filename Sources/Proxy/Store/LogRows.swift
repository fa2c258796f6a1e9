import Glibc
import Reactor

/// Request-log rows as one buffer of bytes: the 29 values of each row (`columnNames`, the
/// order `request_logs` takes them), each a tag byte and its payload. The writer builds one
/// per batch and either binds its rows to multi-row INSERTs straight from the buffer (no
/// copy of a text), or stores the whole buffer as one `request_log_pending` row (a
/// *segment*) when the relay is busy, and moves it into `request_logs` later (`BatchWriter`).
/// The readers decode pending segments to show their rows before that (`StoreReader`).
///
/// The bytes, version 1:
/// - `C L 1`, then the row count as four bytes, little-endian;
/// - per value: `0` (NULL); `1` and a zigzag LEB128 integer; or `2`, a LEB128 byte count
///   and that many bytes (UTF-8 text as the record held it).
///
/// `decode` reads any bytes (a damaged file's too) without trapping: nil unless the whole
/// buffer is exactly `rows × 29` well-formed values.
///
/// Owner: one thread at a time (the writer's buffer, or a reader's decoded segment).
struct LogRows {
    /// One value of a row; a text's bytes lie in `bytes`.
    enum Value: Equatable {
        case null
        case int(Int64)
        case text(start: Int, count: Int)
    }

    /// The columns of a row, in the order the values come.
    static let columnNames = [
        "request_id", "time_ms", "token_id", "channel_id", "channel_name", "key_index", "protocol", "path",
        "requested_model", "upstream_model", "stream", "status", "attempts", "ttfb_us", "duration_us",
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
        "usage_known", "cost_micro", "priced", "client_address", "user_agent", "error", "request_key", "user_id", "group_id",
    ]
    static let columns = 29
    /// A column's index in `columnNames`.
    static let columnIndex = Dictionary(uniqueKeysWithValues: columnNames.enumerated().map { ($1, $0) })

    /// The indexes of the columns the readers filter and sum on.
    enum Column {
        static let time = columnIndex["time_ms"]!
        static let token = columnIndex["token_id"]!
        static let channel = columnIndex["channel_id"]!
        static let requestedModel = columnIndex["requested_model"]!
        static let status = columnIndex["status"]!
        static let inputTokens = columnIndex["input_tokens"]!
        static let cost = columnIndex["cost_micro"]!
        static let requestKey = columnIndex["request_key"]!
        static let user = columnIndex["user_id"]!
    }
    static let headerSize = 7
    /// The most rows a segment may declare (a batch is at most `StoreOptions.batchSize`).
    static let maxRows = 1 << 20

    private(set) var bytes: [UInt8] = []
    /// Every value of every row, in order: filled while encoding when `keepValues`, and by `decode`.
    private(set) var values: [Value] = []
    private(set) var rows = 0
    /// Whether `append` records `values` (to bind the rows; a segment stored whole needs only the bytes).
    private var keepValues = true
    /// The attempts' JSON, written here first to learn its length.
    private var json: [UInt8] = []
    /// One row's bytes, written through a pointer, then appended to `bytes` in one copy
    /// (appending to the array a byte at a time was about 6,000 instructions a row).
    private let row = RowBuffer()

    final class RowBuffer {
        var base: UnsafeMutablePointer<UInt8>
        var capacity: Int

        init() {
            capacity = 4_096
            base = .allocate(capacity: capacity)
        }

        func reserve(_ n: Int) {
            guard n > capacity else { return }
            base.deallocate()
            capacity = max(n, capacity * 2)
            base = .allocate(capacity: capacity)
        }

        deinit { base.deallocate() }
    }

    init() {
        bytes.reserveCapacity(256 * 1024)
        values.reserveCapacity(1_024 * Self.columns)
        json.reserveCapacity(256)
        start(keepValues: true)
    }

    /// Empties the buffer for a new set of rows.
    mutating func start(keepValues: Bool) {
        self.keepValues = keepValues
        bytes.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        rows = 0
        bytes.append(contentsOf: [0x43, 0x4C, 0x01, 0, 0, 0, 0])
    }

    // MARK: encoding

    /// Appends the row of the record at `p` (the columns of `columnNames`), read in place:
    /// a record passed by value, or read as `buffer[k]`, was copied, every string of it
    /// retained and released.
    mutating func append(_ p: UnsafePointer<RequestRecord>) {
        json.removeAll(keepingCapacity: true)
        AttemptJSON.append(p.pointee.attempts, to: &json)
        // At most a tag and ten varint bytes a value, plus the texts.
        var bound = Self.columns * 11 + json.count + p.pointee.requestID.count + p.pointee.protocolName.utf8.count + p.pointee.path.utf8.count
        bound += p.pointee.requestedModel.utf8.count + p.pointee.upstreamModel.utf8.count + p.pointee.clientAddress.utf8.count + p.pointee.userAgent.utf8.count
        bound += (p.pointee.channelName?.utf8.count ?? 0) + (p.pointee.error?.utf8.count ?? 0)
        row.reserve(bound)
        var w = Writer(base: row.base, at: 0, offset: bytes.count, keepValues: keepValues)
        w.int(Int64(bitPattern: p.pointee.id), &values)
        w.int(Int64(clamping: p.pointee.timeMillis), &values)
        w.int(p.pointee.tokenID.map(Int64.init), &values)
        w.int(p.pointee.channelID.map(Int64.init), &values)
        w.text(p.pointee.channelName, &values)
        w.int(p.pointee.keyIndex.map(Int64.init), &values)
        w.text(p.pointee.protocolName, &values)
        w.text(p.pointee.path, &values)
        w.text(p.pointee.requestedModel, &values)
        w.text(p.pointee.upstreamModel, &values)
        w.int(p.pointee.stream ? 1 : 0, &values)
        w.int(Int64(p.pointee.status), &values)
        json.withUnsafeBufferPointer { w.text($0, &values) }
        w.int(p.pointee.ttfbMicros.map { Int64(clamping: $0) }, &values)
        w.int(Int64(clamping: p.pointee.durationMicros), &values)
        w.int(Int64(p.pointee.inputTokens), &values)
        w.int(Int64(p.pointee.outputTokens), &values)
        w.int(Int64(p.pointee.cacheReadTokens), &values)
        w.int(Int64(p.pointee.cacheWrite5mTokens), &values)
        w.int(Int64(p.pointee.cacheWrite1hTokens), &values)
        w.int(p.pointee.usageKnown ? 1 : 0, &values)
        w.int(p.pointee.costMicroUSD, &values)
        w.int(p.pointee.priced ? 1 : 0, &values)
        w.text(p.pointee.clientAddress, &values)
        w.text(p.pointee.userAgent, &values)
        w.text(p.pointee.error, &values)
        if p.pointee.requestID.isEmpty {
            w.null(&values)
        } else {
            p.pointee.requestID.withBytes { b in w.text(UnsafeBufferPointer(start: b.baseAddress?.assumingMemoryBound(to: UInt8.self), count: b.count), &values) }
        }
        w.int(p.pointee.userID.map(Int64.init), &values)
        w.int(p.pointee.groupID.map(Int64.init), &values)
        precondition(w.at <= bound, "LogRows: a row outgrew its bound")
        bytes.append(contentsOf: UnsafeBufferPointer(start: row.base, count: w.at))
        rows += 1
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: rows).littleEndian) { h in
            for k in 0..<4 { bytes[3 + k] = h[k] }
        }
    }

    /// Writes one row's values at `base + at`; `offset` is where the row will start in
    /// `bytes` (a text value's recorded start).
    private struct Writer {
        let base: UnsafeMutablePointer<UInt8>
        var at: Int
        let offset: Int
        let keepValues: Bool

        @inline(__always)
        mutating func null(_ values: inout [Value]) {
            base[at] = 0
            at += 1
            if keepValues { values.append(.null) }
        }

        @inline(__always)
        mutating func int(_ v: Int64, _ values: inout [Value]) {
            base[at] = 1
            at += 1
            varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))  // zigzag
            if keepValues { values.append(.int(v)) }
        }

        /// LEB128: seven bits a byte, low first, the high bit set on all but the last.
        @inline(__always)
        mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                base[at] = UInt8(truncatingIfNeeded: v) | 0x80
                at += 1
                v >>= 7
            }
            base[at] = UInt8(v)
            at += 1
        }

        @inline(__always)
        mutating func int(_ v: Int64?, _ values: inout [Value]) {
            if let v { int(v, &values) } else { null(&values) }
        }

        @inline(__always)
        mutating func text(_ s: String?, _ values: inout [Value]) {
            guard var s else { return null(&values) }
            s.withUTF8 { text($0, &values) }
        }

        @inline(__always)
        mutating func text(_ b: UnsafeBufferPointer<UInt8>, _ values: inout [Value]) {
            base[at] = 2
            at += 1
            varint(UInt64(b.count))
            if let p = b.baseAddress, b.count > 0 { (base + at).update(from: p, count: b.count) }
            if keepValues { values.append(.text(start: offset + at, count: b.count)) }
            at += b.count
        }
    }

    // MARK: decoding

    /// The rows of a stored segment, or nil when `bytes` is not exactly a well-formed one.
    static func decode(_ bytes: [UInt8]) -> LogRows? {
        var out = LogRows(decoding: bytes)
        return out.parse() ? out : nil
    }

    private init(decoding bytes: [UInt8]) {
        self.bytes = bytes
        keepValues = true
    }

    private mutating func parse() -> Bool {
        guard bytes.count >= Self.headerSize, bytes[0] == 0x43, bytes[1] == 0x4C, bytes[2] == 0x01 else { return false }
        let declared = Int(bytes[3]) | Int(bytes[4]) << 8 | Int(bytes[5]) << 16 | Int(bytes[6]) << 24
        // Every value takes at least one byte: a count the bytes cannot hold is refused
        // before anything is reserved for it.
        guard declared <= Self.maxRows, declared * Self.columns <= bytes.count - Self.headerSize else { return false }
        values.reserveCapacity(declared * Self.columns)
        let ok = bytes.withUnsafeBufferPointer { b -> Bool in
            var i = Self.headerSize
            for _ in 0..<(declared * Self.columns) {
                guard i < b.count else { return false }
                let tag = b[i]
                i += 1
                switch tag {
                case 0:
                    values.append(.null)
                case 1:
                    guard let v = Self.readVarint(b, &i) else { return false }
                    values.append(.int(Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)))
                case 2:
                    guard let n = Self.readVarint(b, &i), n <= UInt64(b.count - i) else { return false }
                    values.append(.text(start: i, count: Int(n)))
                    i += Int(n)
                default:
                    return false
                }
            }
            return i == b.count
        }
        rows = declared
        return ok
    }

    /// A LEB128 integer at `i` (at most ten bytes, no bits past 64), moving `i` past it.
    private static func readVarint(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            let byte = b[i]
            i += 1
            if shift == 63 && byte > 1 { return nil }
            v |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return v }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    // MARK: reading and binding

    /// Row `row`'s value of column `column` (`columnNames`' index).
    @inline(__always)
    func value(_ row: Int, _ column: Int) -> Value { values[row * Self.columns + column] }

    /// Row `row`'s integer in `column`; nil for NULL or a text.
    @inline(__always)
    func int(_ row: Int, _ column: Int) -> Int64? {
        if case .int(let v) = value(row, column) { return v }
        return nil
    }

    /// The column's text bytes equal `s`'s UTF-8 (false for NULL or a number).
    func textEquals(_ row: Int, _ column: Int, _ s: String) -> Bool {
        guard case .text(let start, let count) = value(row, column) else { return false }
        var s = s
        return s.withUTF8 { u in
            u.count == count && bytes.withUnsafeBufferPointer { b in
                count == 0 || memcmp(b.baseAddress! + start, u.baseAddress!, count) == 0
            }
        }
    }

    /// Row `row`, read as the log search's SELECT reads its columns: column 0 is `id`
    /// (`firstID + row`), then the 29 of `columnNames`.
    func row(_ row: Int, id: Int64) -> Row { Row(rows: self, row: row, id: id) }

    struct Row: SQLRow {
        let rows: LogRows
        let row: Int
        let id: Int64

        func isNull(_ c: Int32) -> Bool {
            c == 0 ? false : rows.value(row, Int(c) - 1) == .null
        }

        func int64(_ c: Int32) -> Int64 {
            if c == 0 { return id }
            if case .int(let v) = rows.value(row, Int(c) - 1) { return v }
            return 0
        }

        func text(_ c: Int32) -> String {
            if c == 0 { return String(id) }
            switch rows.value(row, Int(c) - 1) {
            case .null: return ""
            case .int(let v): return String(v)
            case .text(let start, let count): return String(decoding: rows.bytes[start..<(start + count)], as: UTF8.self)
            }
        }
    }

    /// Binds rows `first ..< first + count` to `s`, a multi-row INSERT, from parameter 1:
    /// each row's id first (`firstID + row`) when `firstID` is given, then its 29 values.
    /// Texts are bound in place: step and reset `s` before the buffer changes.
    func bind(_ s: any SQLStatement, rows first: Int, count: Int, firstID: Int64?) throws {
        try bytes.withUnsafeBufferPointer { b in
            var p: Int32 = 1
            for r in first..<(first + count) {
                if let firstID {
                    try s.bind(p, firstID + Int64(r))
                    p += 1
                }
                for k in (r * Self.columns)..<((r + 1) * Self.columns) {
                    switch values[k] {
                    case .null: try s.bindNull(p)
                    case .int(let v): try s.bind(p, v)
                    case .text(let start, let n): try s.bindStatic(p, UnsafeBufferPointer(rebasing: b[start..<(start + n)]))
                    }
                    p += 1
                }
            }
        }
    }
}
