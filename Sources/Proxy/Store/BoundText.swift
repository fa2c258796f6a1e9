import Reactor

/// The text parameters of one statement execution, gathered first: each value's UTF-8
/// bytes copied once into one reused buffer, then bound from there without a copy
/// (`Statement.bindStatic`). Binding a `String` directly built a temporary C string and
/// made SQLite copy it again (a malloc and a free per value per row).
///
/// Use: `removeAll`, append every value in order, then bind inside `withValues`, stepping
/// and resetting the statement before the closure returns (the bytes move when the buffer
/// grows). Owner: one writer thread (`BatchWriter`).
struct BoundText {
    private var bytes: [UInt8] = []
    /// Where each value starts in `bytes` and how long it is; `start` -1 stands for NULL.
    private var spans: [(start: Int, count: Int)] = []

    init() {
        bytes.reserveCapacity(64 * 1024)
        spans.reserveCapacity(512)
    }

    var count: Int { spans.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
    }

    /// One value: what `write` appends to the buffer.
    @inline(__always)
    private mutating func appendValue(_ write: (inout [UInt8]) -> Void) {
        let start = bytes.count
        write(&bytes)
        spans.append((start, bytes.count - start))
    }

    private mutating func appendNull() { spans.append((-1, 0)) }

    mutating func append(_ v: String) {
        appendValue { $0.append(contentsOf: v.utf8) }
    }

    mutating func append(_ v: String?) {
        if let v { append(v) } else { appendNull() }
    }

    /// A request id's bytes (NULL when it has none), copied straight from where it lies:
    /// its `description` made a heap `String` per row (ids are 29 bytes, past a small
    /// string's room).
    mutating func append(requestID id: RequestID) {
        if id.isEmpty { return appendNull() }
        appendValue { out in id.withBytes { out.append(contentsOf: $0) } }
    }

    /// The attempts column (`AttemptJSON`), written straight into the buffer.
    mutating func append(attempts: [AttemptNote]) {
        appendValue { AttemptJSON.append(attempts, to: &$0) }
    }

    /// The gathered values, bindable by their index, for the duration of `body`.
    func withValues<T>(_ body: (Values) throws -> T) rethrows -> T {
        try bytes.withUnsafeBufferPointer { b in try body(Values(base: b, spans: spans)) }
    }

    struct Values {
        let base: UnsafeBufferPointer<UInt8>
        let spans: [(start: Int, count: Int)]

        /// Binds value `k` (in the order appended) to parameter `param` of `s`.
        func bind(_ s: any SQLStatement, _ param: Int32, _ k: Int) throws {
            let span = spans[k]
            if span.start < 0 { return try s.bindNull(param) }
            try s.bindStatic(param, UnsafeBufferPointer(rebasing: base[span.start..<(span.start + span.count)]))
        }
    }
}
