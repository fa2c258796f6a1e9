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

    /// Checks the password and creates a session, answered as a cookie and in the body (for
    /// scripts). The attempt is reserved with the login limiter before the password is
    /// hashed (429 past the limit, 503 while as many hashes as it allows are running); the
    /// hash runs on a thread of its own (`LoginCheck`).
    static func login(_ call: AdminCall) {
        let ctx = call.context
        let password: String
        do { password = try call.decode(Login.self).password } catch { return call.fail(error) }
        if password.isEmpty { return call.fail(.invalid("password", "password is required")) }
        if password.utf8.count > 1024 { return call.fail(.invalid("password", "password is too long")) }
        let source = ctx.trustedProxies.source(call.request.head, peer: call.request.peer)
        let ticket: LoginLimiter.Ticket
        switch ctx.limiter.reserve(source) {
        case .granted(let t):
            ticket = t
        case .limited(let wait):
            var e = AdminError(429, "too many failed logins from \(source); try again in \(wait) s")
            e.headers = [("Retry-After", String(wait))]
            return call.fail(e)
        case .busy(let wait):
            var e = AdminError(503, "too many logins are being checked at once; try again in \(wait) s")
            e.headers = [("Retry-After", String(wait))]
            return call.fail(e)
        }
        let started = LoginCheck.start(on: call.loop, { () -> LoginReply? in
            guard ctx.checkPassword(password) else { return nil }
            let hours = ctx.control.live.settings.adminSessionHours
            let ttl = UInt64(hours) * 3_600_000
            let secret: String
            do {
                secret = try AdminSessions.create(in: ctx.store, ttlMillis: ttl).secret
            } catch {
                // A full or failing disk must not lock the admin out (that is when they
                // need the metrics): the session then lives in memory until ccload stops.
                secret = AdminSessions.newSecret()
                Log.warn("could not store an admin session (\((error as? StoreError)?.message ?? "\(error)")); it lasts until ccload stops")
            }
            return LoginReply(token: secret, expiresAtMs: wallClockMillis() + ttl)
        }) { reply in
            ctx.limiter.finish(ticket, reply != nil ? .succeeded : .failed)
            guard let reply else { return call.fail(401, "wrong password", field: "password") }
            ctx.sessions.add(secret: reply.token, expiresMillis: reply.expiresAtMs)
            let maxAge = ctx.control.live.settings.adminSessionHours * 3600
            var cookie = "\(AdminRouter.sessionCookie)=\(reply.token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)"
            if ctx.secureCookies { cookie += "; Secure" }
            call.json(reply, headers: [("Set-Cookie", cookie)])
        }
        if !started {
            ctx.limiter.finish(ticket, .unchecked)
            var e = AdminError(503, "no thread to check the password on; try again in 1 s")
            e.headers = [("Retry-After", "1")]
            call.fail(e)
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
        call.blocking({ ctx in try AdminSessions.delete(text, in: ctx.store) }) { _ in
            call.json(["ok": true], headers: [("Set-Cookie", clear)])
        }
    }

    /// Whether the caller's session is valid (the web UI asks this first).
    static func session(_ call: AdminCall) {
        struct Reply: Encodable { let authenticated: Bool; let via: String }
        call.json(Reply(authenticated: true, via: call.auth == .bearer ? "bearer" : "cookie"))
    }
}
