import Foundation
import Proxy
import Reactor

/// `/admin/channels/{id}/account…` and `/admin/accounts`: subscription sign-in for a
/// channel (start: the authorize URL with PKCE S256 and a state, the verifier kept here;
/// finish: the pasted code, or `code#state`, or the address the browser landed on, exchanged
/// at the token endpoint from this loop), the account's status (tokens masked, never
/// shown), and sign-out. A channel becomes an account when its sign-in starts.
enum AdminAccounts {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/accounts", .admin, list),
        AdminRoute("GET", "/admin/channels/{id}/account", .admin, show),
        AdminRoute("POST", "/admin/channels/{id}/account/sign-in", .admin, start),
        AdminRoute("POST", "/admin/channels/{id}/account/finish", .admin, finish),
        AdminRoute("POST", "/admin/channels/{id}/account/sign-out", .admin, signOut),
        AdminRoute("DELETE", "/admin/channels/{id}/account", .admin, remove),
    ]

    struct StartInput: Decodable { let kind: String? }
    struct FinishInput: Decodable { let code: String? }

    /// What an admin sees of an account: never a token, only its masked ends.
    struct View: Encodable, Sendable {
        let channelId: Int
        let kind: String
        let status: String
        let error: String?
        let accessToken: String?
        let expiresAt: UInt64?
        let accountId: String?
        let rateLimits: RateLimitView?
        let signInPending: Bool
    }

    struct WindowView: Encodable, Sendable {
        let status: String
        let utilization: Double?
        let resetsAt: UInt64?
    }

    struct RateLimitView: Encodable, Sendable {
        let status: String
        let resetsAt: UInt64?
        let fiveHour: WindowView
        let sevenDay: WindowView
    }

    static func view(_ r: AccountRow, windows: RateLimitWindows?, pending: Bool) -> View {
        func w(_ x: RateLimitWindows.Window) -> WindowView {
            WindowView(status: x.status.name, utilization: x.utilizationMilli.map { Double($0) / 1000 }, resetsAt: x.resetSeconds)
        }
        let rl = windows.map { RateLimitView(status: $0.status.name, resetsAt: $0.resetSeconds, fiveHour: w($0.fiveHour), sevenDay: w($0.sevenDay)) }
        return View(channelId: r.channelID, kind: r.kind.rawValue, status: r.status.rawValue, error: r.error.isEmpty ? nil : r.error,
                    accessToken: r.accessToken.isEmpty ? nil : ChannelKey(index: 0, secret: r.accessToken).masked,
                    expiresAt: r.expiresMillis == 0 ? nil : r.expiresMillis, accountId: r.accountID.isEmpty ? nil : r.accountID,
                    rateLimits: rl, signInPending: pending)
    }

    /// Windows from memory, else the last ones stored.
    static func windows(_ book: AccountBook, _ r: AccountRow) -> RateLimitWindows? {
        book.windows(channelID: r.channelID) ?? StoredWindows.parse(r.windows)
    }

    static func list(_ call: AdminCall) {
        let book = call.context.shared.accounts
        call.blockingJSON { ctx in
            ["data": try ctx.store.accounts().map { view($0, windows: windows(book, $0), pending: false) }]
        }
    }

    static func show(_ call: AdminCall) {
        do throws(AdminError) {
            let id = try call.id()
            let book = call.context.shared.accounts
            call.blockingJSON { ctx in
                guard let r = try ctx.store.account(channelID: id) else { throw AdminError.notFound("channel \(id) is not an account") }
                return view(r, windows: windows(book, r), pending: false)
            }
        } catch {
            call.fail(error)
        }
    }

    struct Started: Encodable, Sendable {
        let authorizeUrl: String
        let kind: String
        let expiresIn: UInt64
    }

    static func start(_ call: AdminCall) {
        do throws(AdminError) {
            let id = try call.id()
            let input = call.body.isEmpty ? StartInput(kind: nil) : try call.decode(StartInput.self)
            guard let channel = call.control.live.table?.channel(id: id) else { throw AdminError.notFound("channel \(id) does not exist") }
            let kind: AccountKind
            if let k = input.kind {
                guard let parsed = AccountKind(rawValue: k) else { throw AdminError.invalid("kind", "kind must be claude or codex") }
                kind = parsed
            } else {
                guard let k = AccountKind.forProtocol(channel.kind) else {
                    throw AdminError.invalid("kind", "a \(channel.kind.rawValue) channel cannot be an account (claude: anthropic, codex: codex)")
                }
                kind = k
            }
            guard kind.protocolKind == channel.kind else {
                throw AdminError.invalid("kind", "a \(kind.rawValue) account needs a \(kind.protocolKind.rawValue) channel, not \(channel.kind.rawValue)")
            }
            let book = call.context.shared.accounts
            let settings = book.settings
            call.blocking({ ctx in
                guard try ctx.store.makeAccount(channelID: id, kind: kind) else { throw AdminError.notFound("channel \(id) does not exist") }
                try ctx.control.reloadAccounts(channels: true)
                return true
            }) { _ in
                let url = book.signIns.start(channelID: id, kind: kind, provider: settings.provider(kind), nowMillis: wallClockMillis(),
                                             ttlMillis: settings.signInTTLMillis)
                call.json(Started(authorizeUrl: url, kind: kind.rawValue, expiresIn: settings.signInTTLMillis / 1000))
            }
        } catch {
            call.fail(error)
        }
    }

    static func finish(_ call: AdminCall) {
        do throws(AdminError) {
            let id = try call.id()
            let input = try call.decode(FinishInput.self)
            guard let text = input.code, let pasted = AccountSignIns.pastedCode(text) else {
                throw AdminError.invalid("code", "code must be the authorization code, code#state, or the address the browser landed on")
            }
            let book = call.context.shared.accounts
            guard let pending = book.signIns.take(channelID: id, nowMillis: wallClockMillis()) else {
                throw AdminError(409, "no sign-in is waiting for channel \(id) (start one; it lasts \(book.settings.signInTTLMillis / 1000) s)", field: "code")
            }
            if let s = pasted.state, s != pending.state {
                throw AdminError.invalid("code", "the pasted state does not match this sign-in's; start the sign-in again")
            }
            let provider = book.settings.provider(pending.kind)
            let exchange = OAuthTokenCall.exchange(pending.kind, provider, code: pasted.code, verifier: pending.verifier, state: pending.state)
            OAuthRequest.send(url: provider.tokenURL, call: exchange, userAgent: provider.userAgent, loop: call.loop, pool: call.proxy.pool) { answer in
                let outcome: OAuthTokenCall.Outcome
                switch answer {
                case .success(let a): outcome = OAuthTokenCall.outcome(status: a.status, body: a.body, nowMillis: wallClockMillis(), previousRefresh: nil)
                case .failure(let e): outcome = .transient(e.message)
                }
                switch outcome {
                case .tokens(let t):
                    call.blocking({ ctx in
                        try ctx.store.saveAccountTokens(channelID: id, t)
                        try ctx.control.reloadAccounts(channels: true)
                        guard let r = try ctx.store.account(channelID: id) else { throw AdminError.notFound("channel \(id) is not an account") }
                        return view(r, windows: nil, pending: false)
                    }) { call.json($0) }
                case .refused(let why):
                    call.fail(AdminError(400, "the token endpoint refused the code (\(why)); start the sign-in again", field: "code"))
                case .transient(let why):
                    call.fail(AdminError(502, "the code exchange failed: \(why)", type: "upstream_error"))
                }
            }
        } catch {
            call.fail(error)
        }
    }

    /// Drops the tokens: the account needs sign-in again.
    static func signOut(_ call: AdminCall) {
        forget(call, answer: "signed_out") { store, id in try store.signOutAccount(channelID: id) }
    }

    /// The channel is a key channel again.
    static func remove(_ call: AdminCall) {
        forget(call, answer: "deleted") { store, id in try store.deleteAccount(channelID: id) }
    }

    /// Runs `change` on the account of the call's channel (false: it is not an account),
    /// forgets its pending sign-in and windows, publishes, and answers `{answer: true}`.
    private static func forget(_ call: AdminCall, answer: String, _ change: @escaping @Sendable (Store, Int) throws -> Bool) {
        do throws(AdminError) {
            let id = try call.id()
            let book = call.context.shared.accounts
            book.signIns.cancel(channelID: id)
            call.blockingJSON { ctx in
                guard try change(ctx.store, id) else { throw AdminError.notFound("channel \(id) is not an account") }
                try ctx.control.reloadAccounts(channels: true)
                book.forget(channelID: id)
                return [answer: true]
            }
        } catch {
            call.fail(error)
        }
    }
}

/// The windows as the store keeps them (`RateLimitWindows.json`), read back for display.
enum StoredWindows {
    static func parse(_ text: String) -> RateLimitWindows? {
        guard !text.isEmpty, let o = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return nil }
        func status(_ v: Any?) -> RateLimitWindows.Status {
            switch v as? String {
            case "allowed": return .allowed
            case "allowed_warning": return .allowedWarning
            case "rejected": return .rejected
            default: return .unknown
            }
        }
        func seconds(_ v: Any?) -> UInt64? {
            guard let d = (v as? NSNumber)?.doubleValue, d >= 0, d < 1e15 else { return nil }
            return UInt64(d)
        }
        func window(_ v: Any?) -> RateLimitWindows.Window {
            var w = RateLimitWindows.Window()
            guard let o = v as? [String: Any] else { return w }
            w.status = status(o["status"])
            if let u = (o["utilization"] as? NSNumber)?.doubleValue, u >= 0, u <= 10 { w.utilizationMilli = UInt32((u * 1000).rounded()) }
            w.resetSeconds = seconds(o["reset"])
            return w
        }
        var w = RateLimitWindows()
        w.status = status(o["status"])
        w.resetSeconds = seconds(o["reset"])
        w.fiveHour = window(o["five_hour"])
        w.sevenDay = window(o["seven_day"])
        return w
    }
}
