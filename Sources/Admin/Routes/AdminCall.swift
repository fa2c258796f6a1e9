import Foundation
import Proxy
import Reactor

/// One admin request being answered: what was asked (method, path, parameters, query,
/// body), how it was authenticated, and the ways to answer. Lives on the loop that read
/// the request; answer exactly once, now or from a completion handed back to this loop.
public struct AdminCall {
    public enum Auth: Sendable, Equatable {
        case none
        case cookie
        case bearer
    }

    public let request: HTTPRequest
    public let connection: HTTPServerConnection
    public let context: AdminContext
    public let loop: Loop
    public let proxy: ProxyHandler
    public let method: String
    public let path: String
    public let query: [String: String]
    public var params: [String: String] = [:]
    public var auth: Auth = .none
    /// Whose session it is (nil on an open route).
    public var user: SessionUser?

    public var body: [UInt8] { request.body }
    public var store: Store { context.store }
    public var control: ControlPlane { context.control }

    // MARK: input

    /// A path parameter as a positive integer id.
    public func id(_ name: String = "id") throws(AdminError) -> Int {
        guard let raw = params[name], let v = Int(raw), v > 0 else {
            throw AdminError.invalid(name, "\(name) must be a positive integer")
        }
        return v
    }

    /// A query parameter as an integer within `range` (nil when absent).
    public func queryInt(_ name: String, in range: ClosedRange<Int>) throws(AdminError) -> Int? {
        guard let raw = query[name], !raw.isEmpty else { return nil }
        guard let v = Int(raw), range.contains(v) else {
            throw AdminError.invalid(name, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    public func decode<T: Decodable>(_ type: T.Type) throws(AdminError) -> T {
        try AdminJSON.decode(type, from: body)
    }

    public func header(_ name: StaticString) -> String? {
        request.head.value(name).map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: answers

    /// Security headers on every admin and web response.
    static let securityHeaders: [(String, String)] = [
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    ]

    public func respond(status: Int = 200, contentType: StaticString = "application/json",
                        headers: [(String, String)] = [], cache: Bool = false, body: [UInt8]) {
        var all = Self.securityHeaders
        if !cache { all.append(("Cache-Control", "no-store")) }
        all.append(contentsOf: headers)
        connection.respond(status: status, contentType: contentType, extraHeaders: all, body: body)
    }

    public func json<T: Encodable>(_ value: T, status: Int = 200, headers: [(String, String)] = []) {
        respond(status: status, headers: headers, body: AdminJSON.encode(value))
    }

    public func fail(_ e: AdminError) {
        respond(status: e.status, headers: e.headers, body: e.body)
    }

    public func fail(_ status: Int, _ message: String, field: String? = nil) {
        fail(AdminError(status, message, field: field))
    }

    /// Runs `body` on a store thread (it may block on disk and call the store's
    /// configuration methods and the control plane), then `then` on this loop with its
    /// result. A thrown `AdminError` or `StoreError` is answered for you.
    public func blocking<T: Sendable>(_ body: @escaping @Sendable (AdminContext) throws -> T,
                                      then: @escaping (T) -> Void) {
        let ctx = context
        let call = self
        ctx.store.query({ _ -> Result<T, AdminError> in
            do { return .success(try body(ctx)) } catch { return .failure(AdminError(thrown: error)) }
        }, on: loop) { result in
            switch result {
            case .success(let v): then(v)
            case .failure(let e): call.fail(e)
            }
        }
    }

    /// `blocking` whose result is answered as JSON.
    public func blockingJSON<T: Sendable & Encodable>(status: Int = 200, _ body: @escaping @Sendable (AdminContext) throws -> T) {
        let call = self
        blocking(body) { call.json($0, status: status) }
    }

    /// Runs `body` on a reader thread (its own connection, so a long query does not hold
    /// up configuration writes) and answers its value as JSON; a thrown `AdminError` or
    /// `StoreError` is answered for you.
    public func readingJSON<T: Sendable & Encodable>(_ body: @escaping @Sendable (StoreReader) throws -> T) {
        let call = self
        context.store.query({ reader -> Result<T, AdminError> in
            do { return .success(try body(reader)) } catch { return .failure(AdminError(thrown: error)) }
        }, on: loop) { result in
            switch result {
            case .success(let v): call.json(v)
            case .failure(let e): call.fail(e)
            }
        }
    }

    static func percentDecode(_ s: String) -> String? {
        s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
