import Proxy

/// An admin request that cannot be served, as the status and the JSON error body
/// `{"error":{"type":…,"message":…,"field":…}}` (`field` names the bad input).
public struct AdminError: Error, Sendable {
    public var status: Int
    public var type: String
    public var message: String
    public var field: String?
    public var headers: [(String, String)] = []

    public init(_ status: Int, _ message: String, field: String? = nil, type: String? = nil) {
        self.status = status
        self.message = message
        self.field = field
        self.type = type ?? AdminError.type(for: status)
    }

    public static func invalid(_ field: String, _ message: String) -> AdminError {
        AdminError(400, message, field: field)
    }

    public static func notFound(_ message: String) -> AdminError { AdminError(404, message) }

    /// A store failure in the admin's terms: bad input is 400, a missing row 404, a
    /// conflict 409, a database server that cannot be reached now 503 with `Retry-After`
    /// (the proxy keeps serving from the configuration it has), and a database that cannot
    /// be written a 500 that says why.
    public init(_ e: StoreError) {
        switch e.kind {
        case .invalid: self.init(400, e.message)
        case .notFound: self.init(404, e.message)
        case .constraint: self.init(409, e.message)
        case .closed: self.init(503, "ccload is shutting down")
        case .unavailable:
            self.init(503, "the database cannot be reached now (the proxy keeps serving; nothing was changed): \(e.message)", type: "storage_unavailable")
            headers = [("Retry-After", "5")]
        default: self.init(500, "the database could not be written: \(e.message)", type: "storage_error")
        }
    }

    /// Whatever a handler's body threw, as an admin error.
    public init(thrown error: any Error) {
        switch error {
        case let e as AdminError: self = e
        case let e as StoreError: self.init(e)
        default: self.init(500, "\(error)")
        }
    }

    static func type(for status: Int) -> String {
        switch status {
        case 400: return "invalid_request"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 409: return "conflict"
        case 413: return "request_too_large"
        case 429: return "rate_limited"
        default: return status >= 500 ? "server_error" : "error"
        }
    }

    var body: [UInt8] {
        struct Inner: Encodable { let type: String; let message: String; let field: String? }
        struct Outer: Encodable { let error: Inner }
        return AdminJSON.encode(Outer(error: Inner(type: type, message: message, field: field)))
    }
}
