import Synchronization

/// Finished requests counted by status class since start, for metrics: one relaxed
/// atomic add per request (in `ProxyShared.keep`), nothing else.
public final class RequestCounters: Sendable {
    /// The classes counted. `rateLimited` (429) is also a `clientError`.
    public enum Class: Int, CaseIterable, Sendable {
        case success, clientError, rateLimited, serverError, other

        /// `2xx`, `4xx`, `429`, `5xx`, `other` (as the log filter names them).
        public var label: String {
            switch self {
            case .success: return "2xx"
            case .clientError: return "4xx"
            case .rateLimited: return "429"
            case .serverError: return "5xx"
            case .other: return "other"
            }
        }
    }

    private let success = Atomic<UInt64>(0)
    private let clientError = Atomic<UInt64>(0)
    private let rateLimited = Atomic<UInt64>(0)
    private let serverError = Atomic<UInt64>(0)
    private let other = Atomic<UInt64>(0)

    public init() {}

    @inline(__always)
    public func count(status: Int) {
        switch status {
        case 200...299: success.add(1, ordering: .relaxed)
        case 429:
            rateLimited.add(1, ordering: .relaxed)
            clientError.add(1, ordering: .relaxed)
        case 400...499: clientError.add(1, ordering: .relaxed)
        case 500...599: serverError.add(1, ordering: .relaxed)
        default: other.add(1, ordering: .relaxed)
        }
    }

    public func value(_ c: Class) -> UInt64 {
        switch c {
        case .success: return success.load(ordering: .relaxed)
        case .clientError: return clientError.load(ordering: .relaxed)
        case .rateLimited: return rateLimited.load(ordering: .relaxed)
        case .serverError: return serverError.load(ordering: .relaxed)
        case .other: return other.load(ordering: .relaxed)
        }
    }

    /// Every finished request (429s counted once).
    public var total: UInt64 {
        value(.success) + value(.clientError) + value(.serverError) + value(.other)
    }
}
