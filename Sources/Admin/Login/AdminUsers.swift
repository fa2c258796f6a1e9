import Foundation
import Proxy
import Reactor

/// `/admin/users` (the admin's), `PUT /admin/password` (a user's own) and `POST /register`
/// (self-registration, when the `self_registration` setting is on). A password is hashed on
/// a thread of its own (`LoginCheck`), never on a reactor or store thread. A user who is
/// disabled, deleted, given another role or another password loses every session at once;
/// a deleted user's tokens go with them, and a disabled user's tokens are not served.
enum AdminUsers {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/users", .admin, list),
        AdminRoute("POST", "/admin/users", .admin, create),
        AdminRoute("GET", "/admin/users/{id}", .admin, get),
        AdminRoute("PUT", "/admin/users/{id}", .admin, update),
        AdminRoute("DELETE", "/admin/users/{id}", .admin, delete),
        AdminRoute("PUT", "/admin/password", .user, changeOwnPassword),
        AdminRoute("POST", "/register", .open, register),
    ]

    struct LimitsView: Encodable, Sendable {
        let dailyCostCapUsd: OrNull<Double>
        let weeklyCostCapUsd: OrNull<Double>
        let monthlyCostCapUsd: OrNull<Double>
        let totalCostCapUsd: OrNull<Double>
        let requestsPerMinute: OrNull<Int>
        let maxConcurrency: OrNull<Int>

        init(_ l: TokenLimits) {
            dailyCostCapUsd = OrNull(l.dailyCostCapMicroUSD.map(AdminQueries.usd))
            weeklyCostCapUsd = OrNull(l.weeklyCostCapMicroUSD.map(AdminQueries.usd))
            monthlyCostCapUsd = OrNull(l.monthlyCostCapMicroUSD.map(AdminQueries.usd))
            totalCostCapUsd = OrNull(l.totalCostCapMicroUSD.map(AdminQueries.usd))
            requestsPerMinute = OrNull(l.requestsPerMinute)
            maxConcurrency = OrNull(l.maxConcurrency)
        }
    }

    /// A user as answered: never the password or its hash.
    struct UserView: Encodable, Sendable {
        let id: Int
        let username: String
        let role: String
        let email: OrNull<String>
        let enabled: Bool
        let approved: Bool
        let allowedGroupIds: [Int]
        let tokenLimits: LimitsView
        let createdMs: UInt64
        let updatedMs: UInt64

        init(_ u: User) {
            id = u.id
            username = u.username
            role = u.role.rawValue
            email = OrNull(u.email)
            enabled = u.enabled
            approved = u.approved
            allowedGroupIds = u.allowedGroupIDs
            tokenLimits = LimitsView(u.limits)
            createdMs = u.createdMillis
            updatedMs = u.updatedMillis
        }
    }

    static func list(_ call: AdminCall) {
        call.blockingJSON { ctx in ["data": try ctx.store.users().map(UserView.init)] }
    }

    static func get(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        call.blockingJSON { ctx in UserView(try existing(ctx.store, id)) }
    }

    static func create(_ call: AdminCall) {
        var user = User(username: "", passwordHash: "")
        let password: String
        do throws(AdminError) {
            let input = try call.decode(UserInput.self)
            guard case .value = input.username else { throw AdminError.invalid("username", "username is required") }
            guard case .value = input.password else { throw AdminError.invalid("password", "password is required") }
            try input.apply(to: &user)
            password = try input.checkedPassword(username: user.username)!
        } catch {
            return call.fail(error)
        }
        let fresh = user
        hashing(call, password) { encoded in
            var u = fresh
            u.passwordHash = encoded!
            let stored = u
            call.blockingJSON(status: 201) { ctx in UserView(try ctx.store.createUser(stored)) }
        }
    }

    static func update(_ call: AdminCall) {
        let id: Int
        let input: UserInput
        do {
            id = try call.id()
            input = try call.decode(UserInput.self)
        } catch {
            return call.fail(error)
        }
        let password: String?
        switch input.password {
        case .absent: password = nil
        case .null: return call.fail(.invalid("password", "password must be a string, not null"))
        case .value(let p):
            // The username rule needs the user: checked with it below, before the hash is stored.
            if let why = PasswordRule.weakness(p, username: nil) { return call.fail(.invalid("password", "password \(why)")) }
            password = p
        }
        hashing(call, password) { encoded in
            call.blocking({ ctx -> UserView in
                var u = try existing(ctx.store, id)
                try input.apply(to: &u)
                if let password { try PasswordRule.check(password, username: u.username) }
                if let encoded { u.passwordHash = encoded }
                try ctx.store.updateUser(u)
                try ctx.control.reloadTokens()
                return UserView(u)
            }) { view in
                if !(view.enabled && view.approved) || input.role.given || password != nil {
                    call.context.sessions.removeAll(userID: id)
                }
                call.json(view)
            }
        }
    }

    static func delete(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        call.blocking({ ctx -> Bool in
            guard try ctx.store.deleteUser(id: id) else { throw AdminError.notFound("user \(id) does not exist") }
            try ctx.control.reloadTokens()
            return true
        }) { _ in
            call.context.sessions.removeAll(userID: id)
            call.json(["deleted": true])
        }
    }

    /// `PUT /admin/password {"old_password","new_password"}`: a user changes their own
    /// password (the old one is checked, under the login limiter). Every session of theirs
    /// ends, this one too: they log in again with the new password.
    static func changeOwnPassword(_ call: AdminCall) {
        struct Input: Decodable, Sendable {
            let oldPassword: String
            let newPassword: String
            enum CodingKeys: String, CodingKey, CaseIterable { case oldPassword, newPassword }
            init(from decoder: Decoder) throws {
                try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                oldPassword = try c.decode(String.self, forKey: .oldPassword)
                newPassword = try c.decode(String.self, forKey: .newPassword)
            }
        }
        let input: Input
        do { input = try call.decode(Input.self) } catch { return call.fail(error) }
        guard let me = call.user?.userID else {
            return call.fail(400, "the CCLOAD_PASS admin's password is set with CCLOAD_PASS, not here")
        }
        if input.oldPassword.utf8.count > PasswordRule.maximumBytes {
            return call.fail(.invalid("old_password", "old_password is too long"))
        }
        if let why = PasswordRule.weakness(input.newPassword, username: nil) {
            return call.fail(.invalid("new_password", "new_password \(why)"))
        }
        limited(call) { ctx -> Result<Int, AdminError> in
            guard let u = try? ctx.store.user(id: me) else { return .failure(AdminError(401, "your user no longer exists")) }
            guard AdminPassword(encoded: u.passwordHash)?.matches(input.oldPassword) == true else {
                return .failure(AdminError(403, "old_password is wrong", field: "old_password"))
            }
            if let why = PasswordRule.weakness(input.newPassword, username: u.username) {
                return .failure(.invalid("new_password", "new_password \(why)"))
            }
            do {
                return .success(try ctx.store.setPasswordHash(userID: me, AdminPassword(hashing: input.newPassword).encoded,
                                                              endingSessions: true))
            } catch {
                return .failure(AdminError(thrown: error))
            }
        } then: { ended in
            call.context.sessions.removeAll(userID: me)
            struct Changed: Encodable { let changed: Bool; let sessionsEnded: Int }
            call.json(Changed(changed: true, sessionsEnded: ended))
        }
    }

    /// At most this many self-registered users may await approval at once (a flood of
    /// sign-ups cannot fill the database).
    static let maxPendingRegistrations = 100

    /// `POST /register {"username","password","email"?}`: with `self_registration` on, makes
    /// a user (role user) who may log in once the admin approves them; off, 403. Under the
    /// login limiter, as a login is; 429 while `maxPendingRegistrations` await approval.
    static func register(_ call: AdminCall) {
        struct Input: Decodable, Sendable {
            let username: String
            let password: String
            let email: String?
            enum CodingKeys: String, CodingKey, CaseIterable { case username, password, email }
            init(from decoder: Decoder) throws {
                try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                username = try c.decode(String.self, forKey: .username)
                password = try c.decode(String.self, forKey: .password)
                email = try c.decodeIfPresent(String.self, forKey: .email)
            }
        }
        guard call.context.control.live.settings.selfRegistration else {
            return call.fail(403, "self-registration is off (the self_registration setting); ask the admin for a user")
        }
        let user: User
        let password: String
        do throws(AdminError) {
            let input = try call.decode(Input.self)
            let name = try UserInput.checkedUsername(input.username)
            try PasswordRule.check(input.password, username: name)
            user = User(username: name, passwordHash: "", role: .user, email: try UserInput.checkedEmail(input.email), approved: false)
            password = input.password
        } catch {
            return call.fail(error)
        }
        // A registration proves no password: it must not wipe the source's failed logins.
        limited(call, success: .unchecked) { ctx -> Result<UserView, AdminError> in
            do {
                if try ctx.store.pendingUserCount() >= maxPendingRegistrations {
                    var e = AdminError(429, "\(maxPendingRegistrations) registrations already await the admin's approval; try again later")
                    e.headers = [("Retry-After", "3600")]
                    return .failure(e)
                }
                var u = user
                u.passwordHash = AdminPassword(hashing: password).encoded
                return .success(UserView(try ctx.store.createUser(u)))
            } catch {
                return .failure(AdminError(thrown: error))
            }
        } then: { view in
            call.json(view, status: 201)
        }
    }

    // MARK: helpers

    static func existing(_ store: Store, _ id: Int) throws -> User {
        guard let u = try store.user(id: id) else { throw AdminError.notFound("user \(id) does not exist") }
        return u
    }

    /// Hashes `password` (when given) on a thread of its own, then `next` on the call's loop
    /// with its encoding (nil without a password).
    static func hashing(_ call: AdminCall, _ password: String?, _ next: @escaping (String?) -> Void) {
        guard let password else { return next(nil) }
        let started = LoginCheck.start(on: call.loop, { AdminPassword(hashing: password).encoded }, then: { next($0) })
        if !started { busy(call) }
    }

    /// Runs `body` (a password check or hash, then store writes) on a thread of its own under
    /// the login limiter, as a login: 429 past the failures it allows from the source, 503
    /// while as many checks as it allows run. A failure counts against the source.
    /// `success` is how a success counts: `.succeeded` (a password was proved: the source's
    /// failures are forgotten) or `.unchecked` (nothing was proved: they stay).
    static func limited<T: Sendable>(_ call: AdminCall, success: LoginLimiter.Outcome = .succeeded,
                                     _ body: @escaping @Sendable (AdminContext) -> Result<T, AdminError>,
                                     then: @escaping (T) -> Void) {
        let ctx = call.context
        guard let ticket = AdminAuthRoutes.reserve(call) else { return }
        let started = LoginCheck.start(on: call.loop, { body(ctx) }) { result in
            switch result {
            case .success(let v):
                ctx.limiter.finish(ticket, success)
                then(v)
            case .failure(let e):
                ctx.limiter.finish(ticket, e.status == 403 || e.status == 409 ? .failed : .unchecked)
                call.fail(e)
            }
        }
        if !started {
            ctx.limiter.finish(ticket, .unchecked)
            busy(call)
        }
    }

    static func busy(_ call: AdminCall) {
        var e = AdminError(503, "no thread to hash the password on; try again in 1 s")
        e.headers = [("Retry-After", "1")]
        call.fail(e)
    }
}
