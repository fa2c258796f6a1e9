import Reactor

/// A request `TokenMeters` let in: whose it is (nil: no client tokens are configured) and
/// the estimate it holds against the cost caps until `TokenMeters.finish`.
public struct TokenAdmission: Sendable, Equatable {
    public var tokenID: Int?
    public var reservedMicroUSD: Int64

    public init(tokenID: Int?, reservedMicroUSD: Int64 = 0) {
        self.tokenID = tokenID
        self.reservedMicroUSD = reservedMicroUSD
    }
}

/// The one admission path of every request, relay and pass-through alike: the token's
/// limits (`TokenMeters.admit`), a cost reservation for capped tokens, and settlement.
/// Owner: the handler's loop.
extension ProxyHandler {
    enum Admission {
        case admitted(TokenAdmission)
        case refused(TokenRefusal)
    }

    /// The token `auth` names, with its limits.
    func tokenOf(_ auth: AuthOutcome) -> ClientToken? {
        loop.assertOnLoop()
        guard case .token(let id) = auth else { return nil }
        return self.auth.token(id: id)
    }

    /// The one place a request's token limits apply, in every mode and on every endpoint
    /// (the client restriction, read from `head`'s `User-Agent` only for a restricted token;
    /// then `TokenMeters.admit`: enabled, expiry, models, rpm, concurrency, cost caps). A
    /// token with a cost cap reserves `estimate()` micro-USD until `settle`. Without client
    /// tokens (loopback) every request is admitted.
    func admit(_ auth: AuthOutcome, head: HTTPRequestHead, model: String?, modelsEndpoint: Bool = false, nowMillis: UInt64,
               estimate: () -> Int) -> Admission {
        loop.assertOnLoop()
        return admit(tokenOf(auth), head: head, model: model, modelsEndpoint: modelsEndpoint, nowMillis: nowMillis, estimate: estimate)
    }

    /// `admit` for the token already looked up (`tokenOf`; nil: no client tokens).
    func admit(_ token: ClientToken?, head: HTTPRequestHead, model: String?, modelsEndpoint: Bool = false, nowMillis: UInt64,
               estimate: () -> Int) -> Admission {
        loop.assertOnLoop()
        guard let token else { return .admitted(TokenAdmission(tokenID: nil)) }
        if token.allowedClients != nil, token.enabled, let no = token.refusesClient(userAgent: head.value("user-agent")) {
            return .refused(no)
        }
        let reserve = token.hasCostCap ? Int64(estimate()) : 0
        if let no = shared.meters.admit(token, model: model, modelsEndpoint: modelsEndpoint, reserveMicroUSD: reserve, nowMillis: nowMillis) {
            return .refused(no)
        }
        return .admitted(TokenAdmission(tokenID: token.id, reservedMicroUSD: reserve))
    }

    /// `admit` for a request that is not recorded: a refusal is answered (and counted) here.
    func admitOrRefuse(_ auth: AuthOutcome, head: HTTPRequestHead, model: String?, kind: ProtocolKind, modelsEndpoint: Bool,
                       _ c: HTTPServerConnection, estimate: () -> Int = { 0 }) -> TokenAdmission? {
        loop.assertOnLoop()
        switch admit(auth, head: head, model: model, modelsEndpoint: modelsEndpoint, nowMillis: wallClockMillis(), estimate: estimate) {
        case .admitted(let a):
            return a
        case .refused(let no):
            shared.counters.count(status: no.status)
            c.respond(status: no.status, extraHeaders: no.retryAfterSeconds.map { [("retry-after", String($0))] } ?? [],
                      body: kind.wire.errorBody(status: no.status, message: no.message))
            return nil
        }
    }

    /// Ends an admitted request: its reservation goes back and its cost is charged.
    func settle(_ a: TokenAdmission, costMicroUSD: Int64) {
        loop.assertOnLoop()
        guard let id = a.tokenID else { return }
        shared.meters.finish(tokenID: id, costMicroUSD: costMicroUSD, reservedMicroUSD: a.reservedMicroUSD, nowMillis: wallClockMillis())
    }
}
