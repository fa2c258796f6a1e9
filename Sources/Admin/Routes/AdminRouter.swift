import Foundation
import Proxy
import Reactor
import TLS

/// The loop's top-level handler: the admin API (`/admin/*`, `/login`, `/logout`, `/register`),
/// `/public/*`, `/metrics`, the web UI (`/web/*`, with `/` redirecting there) are
/// answered here; everything else goes to the proxy untouched. Owner: one loop.
public final class AdminRouter: HTTPRequestHandler, @unchecked Sendable {
    public let proxy: ProxyHandler
    public let context: AdminContext
    private let routes: [AdminRoute]

    public init(proxy: ProxyHandler, context: AdminContext) {
        proxy.loop.assertOnLoop()
        self.proxy = proxy
        self.context = context
        routes = AdminRoutes.all
    }

    public static let sessionCookie = "ccload_session"

    /// Body caps of the paths this router answers (larger bodies get 413 before they are read):
    /// `/login` takes a password, `/admin/*` small JSON, and the CSV import a whole file.
    public static let loginBodyLimit = 16 * 1024
    public static let adminBodyLimit = 1 << 20
    public static let importBodyLimit = ChannelCSV.maxImportBytes

    /// At the head: the proxy's paths get its token check; the admin paths their body cap.
    public func headReceived(_ head: HTTPRequestHead, peer: SocketAddress, on connection: HTTPServerConnection) -> HeadDecision {
        proxy.loop.assertOnLoop()
        let target = head.targetBytes
        if ASCII.hasPrefix(target, "/v1") {
            // CORS fields ride on every answer to this request, refusals at the head included.
            // An allowed preflight is answered in `handle`, with no token.
            if proxy.cors.enabled && proxy.cors.fields(for: head, into: &connection.extraResponseHeaders)
                && CORSPolicy.isPreflight(head) {
                return .proceed(maxBodyBytes: nil)
            }
        }
        if ASCII.hasPrefix(target, "/v1") || !AdminRouter.isAdminPath(target) {
            return proxy.headReceived(head, peer: peer, on: connection)
        }
        return .proceed(maxBodyBytes: AdminRouter.bodyLimit(target))
    }

    static func bodyLimit(_ target: ArraySlice<UInt8>) -> Int {
        let path = target.prefix { $0 != 0x3F }
        if ASCII.hasPrefix(path, "/login") || ASCII.hasPrefix(path, "/register") { return loginBodyLimit }
        if ASCII.equalsIgnoringCase(path, "/admin/channels/import") { return importBodyLimit }
        return adminBodyLimit
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {
        proxy.loop.assertOnLoop()
        let target = request.head.targetBytes
        // The proxy's paths first, with the fewest byte compares.
        if ASCII.hasPrefix(target, "/v1") && proxy.cors.enabled && CORSPolicy.isPreflight(request.head)
            && proxy.cors.allows(request.head.value("origin")!) {
            // A preflight from an allowed origin: its fields are already set at the head.
            return connection.respond(status: 200, contentType: "text/plain; charset=utf-8", body: [])
        }
        if ASCII.hasPrefix(target, "/v1") || !AdminRouter.isAdminPath(target) {
            return proxy.handle(request, on: connection)
        }
        let (path, query) = AdminRouter.split(target)
        let method = String(decoding: request.head.bytes[request.head.method], as: UTF8.self)
        var call = AdminCall(request: request, connection: connection, context: context, loop: proxy.loop, proxy: proxy,
                             method: method, path: path, query: query)
        if path == "/" {
            return call.respond(status: 302, contentType: "text/plain; charset=utf-8", headers: [("Location", "/web/")],
                                body: Array("see /web/\n".utf8))
        }
        let segments = path.split(separator: "/")
        var allowed: [String] = []
        for route in routes {
            guard let params = route.match(segments) else { continue }
            guard route.method == method || (route.method == "GET" && method == "HEAD") else {
                allowed.append(route.method)
                continue
            }
            call.params = params
            if route.access != .open {
                if let refusal = authenticate(&call, route.access) { return call.fail(refusal) }
            }
            return route.handler(call)
        }
        if !allowed.isEmpty {
            var e = AdminError(405, "\(path) takes \(allowed.joined(separator: ", ")), not \(method)")
            e.headers = [("Allow", allowed.joined(separator: ", "))]
            return call.fail(e)
        }
        call.fail(404, "no admin endpoint \(path)")
    }

    /// Paths this router answers; all others belong to the proxy.
    static func isAdminPath(_ t: ArraySlice<UInt8>) -> Bool {
        if t.count == 1 || (t.count > 1 && t[t.startIndex + 1] == 0x3F) { return t.first == 0x2F }  // "/" or "/?…"
        return ASCII.hasPrefix(t, "/admin/") || ASCII.hasPrefix(t, "/web") || ASCII.hasPrefix(t, "/login")
            || ASCII.hasPrefix(t, "/logout") || ASCII.hasPrefix(t, "/public/") || ASCII.hasPrefix(t, "/metrics")
            || ASCII.hasPrefix(t, "/register")
    }

    /// Checks the session (cookie or bearer), that its role may call a route needing
    /// `access` (the one place roles are enforced), and, for a cookie-authenticated change,
    /// that the request comes from this origin. Nil when the call may proceed.
    private func authenticate(_ call: inout AdminCall, _ access: AdminRoute.Access) -> AdminError? {
        let head = call.request.head
        if let v = head.value("authorization"), v.count > 7, ASCII.equalsIgnoringCase(v.prefix(7), "bearer ") {
            guard let user = context.sessions.user(v.dropFirst(7)) else {
                return AdminError(401, "the session is unknown or has expired; log in again (POST /login)")
            }
            call.auth = .bearer
            call.user = user
            return AdminRouter.refusal(user, access, call.path)
        }
        guard let secret = AdminRouter.cookie(head, AdminRouter.sessionCookie) else {
            return AdminError(401, "log in first (POST /login with {\"password\": …})")
        }
        guard let user = context.sessions.user(secret) else {
            return AdminError(401, "the session is unknown or has expired; log in again")
        }
        call.auth = .cookie
        call.user = user
        if !["GET", "HEAD", "OPTIONS"].contains(call.method) && !AdminRouter.sameOrigin(head) {
            return AdminError(403, "cross-site request refused: a change made with the session cookie needs an Origin or Referer of this site")
        }
        return AdminRouter.refusal(user, access, call.path)
    }

    /// Why `user` may not call a route needing `access`, or nil.
    static func refusal(_ user: SessionUser, _ access: AdminRoute.Access, _ path: String) -> AdminError? {
        switch access {
        case .open, .user: return nil
        case .admin: return user.isAdmin ? nil : AdminError(403, "\(path) is for admins only")
        }
    }

    /// Whether the request's `Origin` (or, without one, its `Referer`) names the host it
    /// was sent to.
    static func sameOrigin(_ head: HTTPRequestHead) -> Bool {
        guard let host = head.value("host").map({ String(decoding: $0, as: UTF8.self).lowercased() }), !host.isEmpty else {
            return false
        }
        let source: String
        if let o = head.value("origin") {
            source = String(decoding: o, as: UTF8.self).lowercased()
            if source == "null" { return false }
        } else if let r = head.value("referer") {
            source = String(decoding: r, as: UTF8.self).lowercased()
        } else {
            return false
        }
        for scheme in ["http://", "https://"] where source.hasPrefix(scheme) {
            let rest = source.dropFirst(scheme.count)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            return authority == host
        }
        return false
    }

    /// A cookie's value from the `Cookie` header.
    static func cookie(_ head: HTTPRequestHead, _ name: String) -> ArraySlice<UInt8>? {
        guard let v = head.value("cookie") else { return nil }
        let key = Array(name.utf8) + [0x3D]
        var rest = v
        while !rest.isEmpty {
            while let f = rest.first, f == 0x20 { rest = rest.dropFirst() }
            let end = rest.firstIndex(of: 0x3B) ?? rest.endIndex
            let pair = rest[rest.startIndex..<end]
            if pair.starts(with: key) {
                let value = pair.dropFirst(key.count)
                return value.isEmpty ? nil : value
            }
            rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end..<end]
        }
        return nil
    }

    static func split(_ target: ArraySlice<UInt8>) -> (String, [String: String]) {
        let s = String(decoding: target, as: UTF8.self)
        guard let q = s.firstIndex(of: "?") else { return (s, [:]) }
        var out: [String: String] = [:]
        for part in s[s.index(after: q)...].split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard let k = AdminCall.percentDecode(String(kv[0])) else { continue }
            out[k] = kv.count > 1 ? (AdminCall.percentDecode(String(kv[1])) ?? String(kv[1])) : ""
        }
        return (String(s[..<q]), out)
    }
}
