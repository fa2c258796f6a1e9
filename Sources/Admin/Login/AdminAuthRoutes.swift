import Foundation
import Proxy
import Reactor

/// `POST /login`, `POST /logout`, `GET /admin/session`.
enum AdminAuthRoutes {
    static let routes: [AdminRoute] = [
        AdminRoute("POST", "/login", .open, login),
        AdminRoute("POST", "/logout", .open, logout),
        AdminRoute("GET", "/admin/session", .user, session),
    ]

    /// `{"password"}` logs in the `CCLOAD_PASS` admin (as before users); with `username`,
    /// that user. Unknown fields are refused.
    struct Login: Decodable, Sendable {
        let username: String?
        let password: String
        enum CodingKeys: String, CodingKey, CaseIterable { case username, password }
        init(from decoder: Decoder) throws {
            // A missing password is named before an unknown field (`{"pass": …}` → password).
            let c = try decoder.container(keyedBy: CodingKeys.self)
            username = try c.decodeIfPresent(String.self, forKey: .username)
            password = try c.decode(String.self, forKey: .password)
            try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
        }
    }

    struct LoginReply: Encodable, Sendable {
        let token: String
        let expiresAtMs: UInt64
        let role: String
        let userId: OrNull<Int>
    }

    /// What a password check found.
    enum LoginResult: Sendable {
        case session(LoginReply, SessionUser)
        /// No such user, or the wrong password (one answer for both).
        case wrong
        /// The password was right but the user may not log in (the message says why).
        case refused(String)
    }

    /// A hash the password of an unknown username is checked against, so that such a login
    /// takes as long as a known one's.
    static let decoy = AdminPassword(hashing: AdminPassword.generate())

    /// Checks the password and creates a session, answered as a cookie and in the body (for
    /// scripts). The attempt is reserved with the login limiter before the password is
    /// hashed (429 past the limit, 503 while as many hashes as it allows are running); the
    /// hash runs on a thread of its own (`LoginCheck`). A user who is disabled or awaits
    /// approval gets 403 once their password is right.
    static func login(_ call: AdminCall) {
        let ctx = call.context
        let input: Login
        do { input = try call.decode(Login.self) } catch { return call.fail(error) }
        let password = input.password
        if password.isEmpty { return call.fail(.invalid("password", "password is required")) }
        if password.utf8.count > PasswordRule.maximumBytes { return call.fail(.invalid("password", "password is too long")) }
        if let u = input.username, u.isEmpty || u.count > UserInput.maxUsernameLength {
            return call.fail(.invalid("username", "username must be 1 to \(UserInput.maxUsernameLength) characters"))
        }
        guard let ticket = reserve(call) else { return }
        let started = LoginCheck.start(on: call.loop, { () -> LoginResult in
            let user: SessionUser
            if let name = input.username {
                let found = try? ctx.store.user(username: name)
                guard let found, let hash = AdminPassword(encoded: found.passwordHash) else {
                    _ = decoy.matches(password)
                    return .wrong
                }
                guard hash.matches(password) else { return .wrong }
                if !found.enabled { return .refused("user \(found.username) is disabled") }
                if !found.approved { return .refused("user \(found.username) awaits the admin's approval") }
                if hash.needsRehash {
                    _ = try? ctx.store.setPasswordHash(userID: found.id, AdminPassword(hashing: password).encoded, endingSessions: false)
                }
                user = SessionUser(userID: found.id, role: found.role)
            } else {
                guard ctx.checkPassword(password) else { return .wrong }
                user = .passwordAdmin
            }
            let hours = ctx.control.live.settings.adminSessionHours
            let ttl = UInt64(hours) * 3_600_000
            let secret: String
            do {
                secret = try AdminSessions.create(in: ctx.store, ttlMillis: ttl, user: user).secret
            } catch {
                // A full or failing disk must not lock the admin out (that is when they
                // need the metrics): the session then lives in memory until ccload stops.
                secret = AdminSessions.newSecret()
                Log.warn("could not store an admin session (\((error as? StoreError)?.message ?? "\(error)")); it lasts until ccload stops")
            }
            let reply = LoginReply(token: secret, expiresAtMs: wallClockMillis() + ttl, role: user.role.rawValue, userId: OrNull(user.userID))
            return .session(reply, user)
        }) { result in
            let reply: LoginReply
            let user: SessionUser
            switch result {
            case .wrong:
                ctx.limiter.finish(ticket, .failed)
                return call.fail(401, input.username == nil ? "wrong password" : "wrong username or password", field: "password")
            case .refused(let why):
                ctx.limiter.finish(ticket, .succeeded)
                return call.fail(403, why)
            case .session(let r, let u):
                ctx.limiter.finish(ticket, .succeeded)
                reply = r
                user = u
            }
            ctx.sessions.add(secret: reply.token, expiresMillis: reply.expiresAtMs, user: user)
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

    /// Reserves a password check for the call's source with the login limiter; nil (and
    /// answered: 429 past the limit, 503 while as many checks as it allows run) when refused.
    static func reserve(_ call: AdminCall) -> LoginLimiter.Ticket? {
        let ctx = call.context
        let source = ctx.trustedProxies.source(call.request.head, peer: call.request.peer)
        switch ctx.limiter.reserve(source) {
        case .granted(let t):
            return t
        case .limited(let wait):
            var e = AdminError(429, "too many failed logins from \(source); try again in \(wait) s")
            e.headers = [("Retry-After", String(wait))]
            call.fail(e)
        case .busy(let wait):
            var e = AdminError(503, "too many logins are being checked at once; try again in \(wait) s")
            e.headers = [("Retry-After", String(wait))]
            call.fail(e)
        }
        return nil
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

    /// Whether the caller's session is valid, and whose it is (the web UI asks this first).
    /// Who the session is. For a user also what their own keys may use (the web UI's key
    /// form reads it; a user may not list groups or users): the groups the admin allows them,
    /// by id and name, and the admin's limits for their keys. Both `null` for the
    /// `CCLOAD_PASS` admin.
    static func session(_ call: AdminCall) {
        struct AllowedGroup: Encodable, Sendable {
            let id: Int
            let name: String
        }
        struct Reply: Encodable, Sendable {
            let authenticated: Bool
            let via: String
            let role: String
            let userId: OrNull<Int>
            let username: OrNull<String>
            let allowedGroups: OrNull<[AllowedGroup]>
            let tokenLimits: OrNull<AdminUsers.LimitsView>
        }
        let user = call.caller
        let via = call.auth == .bearer ? "bearer" : "cookie"
        guard let id = user.userID else {
            return call.json(Reply(authenticated: true, via: via, role: user.role.rawValue, userId: OrNull(nil), username: OrNull(nil),
                                   allowedGroups: OrNull(nil), tokenLimits: OrNull(nil)))
        }
        call.blockingJSON { ctx in
            let found = try ctx.store.user(id: id)
            let allowed = Set(found?.allowedGroupIDs ?? [])
            let groups = allowed.isEmpty ? [] : try ctx.store.groups().filter { allowed.contains($0.id) }
            return Reply(authenticated: true, via: via, role: user.role.rawValue, userId: OrNull(id), username: OrNull(found?.username),
                         allowedGroups: OrNull(groups.map { AllowedGroup(id: $0.id, name: $0.name) }),
                         tokenLimits: OrNull(found.map { AdminUsers.LimitsView($0.limits) }))
        }
    }
}
