import Foundation
import Proxy
import Reactor

/// `POST /login`, `POST /logout`, `GET /admin/session`.
enum AdminAuthRoutes {
    static let routes: [AdminRoute] = [
        AdminRoute("POST", "/login", .open, login),
        AdminRoute("POST", "/logout", .open, logout),
        AdminRoute("GET", "/admin/session", .session, session),
    ]

    struct Login: Decodable { let password: String }
    struct LoginReply: Encodable, Sendable { let token: String; let expiresAtMs: UInt64 }

    /// Checks the password (on a store thread: the hash is slow on purpose), creates a
    /// session, and answers with it as a cookie and in the body (for scripts).
    static func login(_ call: AdminCall) {
        let address = call.request.peer.ipString
        let ctx = call.context
        if let wait = ctx.limiter.retryAfterSeconds(address) {
            var e = AdminError(429, "too many failed logins from \(address); try again in \(wait) s")
            e.headers = [("Retry-After", String(wait))]
            return call.fail(e)
        }
        let password: String
        do { password = try call.decode(Login.self).password } catch { return call.fail(error) }
        if password.isEmpty { return call.fail(.invalid("password", "password is required")) }
        if password.utf8.count > 1024 { return call.fail(.invalid("password", "password is too long")) }
        call.blocking({ ctx -> LoginReply? in
            guard ctx.password.matches(password) else { return nil }
            let hours = ctx.control.live.settings.adminSessionHours
            let ttl = UInt64(hours) * 3_600_000
            let secret: String
            do {
                secret = try ctx.store.createAdminSession(ttlMillis: ttl)
            } catch {
                // A full or failing disk must not lock the admin out (that is when they
                // need the metrics): the session then lives in memory until ccload stops.
                secret = AdminPassword.sessionSecret()
                Log.warn("could not store an admin session (\((error as? StoreError)?.message ?? "\(error)")); it lasts until ccload stops")
            }
            return LoginReply(token: secret, expiresAtMs: wallClockMillis() + ttl)
        }) { reply in
            guard let reply else {
                ctx.limiter.recordFailure(address)
                return call.fail(401, "wrong password", field: "password")
            }
            ctx.limiter.recordSuccess(address)
            ctx.sessions.add(secret: reply.token, expiresMillis: reply.expiresAtMs)
            let maxAge = ctx.control.live.settings.adminSessionHours * 3600
            var cookie = "\(AdminRouter.sessionCookie)=\(reply.token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)"
            if ctx.secureCookies { cookie += "; Secure" }
            call.json(reply, headers: [("Set-Cookie", cookie)])
        }
    }

    /// Ends the session named by the cookie or bearer token (if any) and clears the cookie.
    static func logout(_ call: AdminCall) {
        let head = call.request.head
        var secret: ArraySlice<UInt8>?
        if let v = head.value("authorization"), v.count > 7, ASCII.equalsIgnoringCase(v.prefix(7), "bearer ") {
            secret = v.dropFirst(7)
        } else if let c = AdminRouter.cookie(head, AdminRouter.sessionCookie) {
            if !AdminRouter.sameOrigin(head) {
                return call.fail(403, "cross-site request refused: logging out with the session cookie needs an Origin or Referer of this site")
            }
            secret = c
        }
        var clear = "\(AdminRouter.sessionCookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        if call.context.secureCookies { clear += "; Secure" }
        guard let secret else { return call.json(["ok": true], headers: [("Set-Cookie", clear)]) }
        let text = String(decoding: secret, as: UTF8.self)
        call.context.sessions.remove(secret: secret)
        call.blocking({ ctx in try ctx.store.deleteAdminSession(text) }) { _ in
            call.json(["ok": true], headers: [("Set-Cookie", clear)])
        }
    }

    /// Whether the caller's session is valid (the web UI asks this first).
    static func session(_ call: AdminCall) {
        struct Reply: Encodable { let authenticated: Bool; let via: String }
        call.json(Reply(authenticated: true, via: call.auth == .bearer ? "bearer" : "cookie"))
    }
}
