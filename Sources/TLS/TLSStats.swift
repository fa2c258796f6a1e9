import Synchronization

/// Process-wide handshake counters, for benchmarks and `/admin/metrics`.
public enum TLSStats {
    static let full = Atomic<Int>(0)
    static let resumed = Atomic<Int>(0)

    /// Client handshakes that did a full key exchange.
    public static var fullHandshakes: Int { full.load(ordering: .relaxed) }
    /// Client handshakes that resumed a cached session.
    public static var resumedHandshakes: Int { resumed.load(ordering: .relaxed) }

    static func record(resumed wasResumed: Bool) {
        if wasResumed {
            resumed.wrappingAdd(1, ordering: .relaxed)
        } else {
            full.wrappingAdd(1, ordering: .relaxed)
        }
    }
}
