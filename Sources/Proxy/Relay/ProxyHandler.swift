import Reactor

/// The request handler of one loop: answers `/health`, routes the four protocols through
/// the channel table (or, with no channels, passes `/v1/*` through to one upstream), and
/// owns that loop's upstream pool and its reference to the current table snapshot.
/// Owner: one loop.
public final class ProxyHandler: HTTPRequestHandler, @unchecked Sendable {
    public let loop: Loop
    /// Replaced (on this loop) when a live setting changes.
    public private(set) var config: ProxyConfig
    public let shared: ProxyShared
    public let pool: UpstreamPool
    /// The relayed requests in flight on this loop.
    public let active: ActiveRequests
    /// The channel table this loop routes by; replaced whole (on this loop) when it changes.
    public var table: ChannelTable? {
        didSet { loop.assertOnLoop() }
    }
    /// The client tokens this loop checks; replaced whole (on this loop) when they change.
    public var auth: ClientAuth {
        didSet {
            loop.assertOnLoop()
            if auth !== oldValue {
                authEpoch &+= 1
                verified?.reset()
            }
        }
    }
    /// The signed-in accounts' credentials; replaced whole (on this loop) when one refreshes.
    public var accounts = AccountCredentials.none {
        didSet { loop.assertOnLoop() }
    }
    /// The secrets this loop has verified against `auth` (reset when it changes).
    private var verified: VerifiedTokenCache? = VerifiedTokenCache()
    /// Which `auth` checked a request at its head (the `HeadNote` tag): a head-time outcome
    /// counts only under the same token set, else the request is checked again.
    private var authEpoch: UInt64 = 1
    private var candidateScratch: [Candidate] = []
    /// Which browser origins may call (`cors_allowed_origins`); replaced with the settings.
    public private(set) var cors = CORSPolicy.off
    /// The last client address and user agent, as record strings.
    private var recordStrings = RecordStrings()
    private var priceMemo = PriceMemo()
    /// Records finished in this loop's current round, for the store's writer.
    private lazy var handOff: RecordHandOff? = shared.store.map { RecordHandOff(writer: $0.writer) }
    /// Per channel, the base URL that last answered on this loop (tries start there).
    private var preferredURLs: [Int: Int] = [:]

    public init(loop: Loop, config: ProxyConfig, shared: ProxyShared, table: ChannelTable?) {
        self.loop = loop
        self.config = config
        self.shared = shared
        self.table = table
        self.auth = shared.auth
        self.pool = UpstreamPool(loop: loop, settings: config.pool)
        self.active = ActiveRequests(loop: loop)
    }

    /// Takes a live configuration (on this loop): the table, the tokens and the timeouts.
    public func apply(_ live: LiveConfig) {
        loop.assertOnLoop()
        table = live.table
        auth = live.auth
        accounts = live.accounts
        config.firstByteTimeoutNanos = live.settings.firstByteTimeoutNanos
        config.pool.connectTimeoutNanos = live.settings.connectTimeoutNanos
        pool.settings.connectTimeoutNanos = live.settings.connectTimeoutNanos
        config.stream = live.settings.stream
        cors = live.settings.cors
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {
        loop.assertOnLoop()
        let target = request.head.targetBytes
        if ASCII.equalsIgnoringCase(target, "/health") || ASCII.hasPrefix(target, "/health?") {
            return connection.respond(status: 200, body: Array(#"{"status":"ok"}"#.utf8))
        }
        if let table {
            if let route = ProtocolRules.route(request.head) {
                return relay(request, route, table, connection)
            }
            if ASCII.hasPrefix(target, "/v1/") || ASCII.hasPrefix(target, "/v1beta/") || ASCII.hasPrefix(target, "/backend-api/") {
                return Self.fail(connection, 404, "ccload does not route \(String(decoding: target.prefix(200), as: UTF8.self))")
            }
            return Self.fail(connection, 404, "no route for this path")
        }
        if ASCII.hasPrefix(target, "/v1/"), let upstream = config.upstream {
            return passThrough(request, upstream, connection)
        }
        if ASCII.hasPrefix(target, "/v1/") {
            return Self.fail(connection, 503, "no channels or upstream are configured")
        }
        Self.fail(connection, 404, "no route for this path")
    }

    /// At the head, before any body byte is read (or `100 Continue` sent): a request the
    /// proxy would route is refused here when its token is missing or invalid, in its
    /// protocol's error shape; the server then closes the connection if a body was announced.
    public func headReceived(_ head: HTTPRequestHead, peer: SocketAddress, on connection: HTTPServerConnection) -> HeadDecision {
        loop.assertOnLoop()
        let kind: ProtocolKind
        if table != nil {
            guard let route = ProtocolRules.route(head) else { return .proceed(maxBodyBytes: nil) }
            kind = route.kind
        } else if config.upstream != nil && ASCII.hasPrefix(head.targetBytes, "/v1/") {
            kind = .anthropic  // the pass-through answers in Anthropic's shape (`fail`)
        } else {
            return .proceed(maxBodyBytes: nil)
        }
        let outcome = auth.check(head, peer: peer, cache: &verified)
        guard let refusal = Self.refusal(outcome) else {
            // Carried to `handle`, so the token is hashed once per request.
            return .proceed(maxBodyBytes: nil, note: outcome.headNoteValue.map { HeadNote(tag: authEpoch, value: $0) } ?? .none)
        }
        shared.counters.count(status: refusal.status)
        return .reject(status: refusal.status, body: kind.wire.errorBody(status: refusal.status, message: refusal.message))
    }

    /// Who `request` is from: the outcome of its head-time check when the same token set
    /// made it, else checked now (the tokens changed in between, or the head was not checked).
    private func authOutcome(_ request: HTTPRequest) -> AuthOutcome {
        let note = request.headNote
        if note.tag == authEpoch, let outcome = AuthOutcome(headNoteValue: note.value) { return outcome }
        return auth.check(request.head, peer: request.peer, cache: &verified)
    }

    /// Why a request is refused, in a status and message, or nil when it may proceed.
    private static func refusal(_ outcome: AuthOutcome) -> (status: Int, message: String)? {
        switch outcome {
        case .token, .loopback: return nil
        case .missing: return (401, "missing ccload token (Authorization: Bearer, x-api-key, x-goog-api-key or ?key=)")
        case .invalid: return (401, "invalid ccload token")
        case .notLoopback: return (403, "no client tokens are configured (CCLOAD_AUTH), so only loopback clients are served")
        }
    }

    private func relay(_ request: HTTPRequest, _ route: APIRoute, _ table: ChannelTable, _ connection: HTTPServerConnection) {
        let kind = route.kind
        let auth = authOutcome(request)
        if let refusal = Self.refusal(auth) {
            // Counted, not logged: an unauthenticated flood must not fill the request log.
            shared.counters.count(status: refusal.status)
            return connection.respond(status: refusal.status,
                                      body: kind.wire.errorBody(status: refusal.status, message: refusal.message))
        }
        if route.endpoint == .models {
            guard let admission = admitOrRefuse(auth, head: request.head, model: nil, kind: kind, modelsEndpoint: true, connection) else { return }
            settle(admission, costMicroUSD: 0)
            let group = tokenOf(auth)?.groupID
            let models = tokenOf(auth)?.allowedModels.map { $0.sorted().filter { table.serves(kind: kind, model: $0, group: group) } }
            return connection.respond(status: 200, body: kind.wire.modelsList(models ?? table.servedModels(kind: kind, group: group)))
        }
        let info: RequestInfo
        do {
            info = try RequestScan.scan(body: request.body, kind: kind, target: request.head.targetBytes, table: table)
        } catch {
            shared.counters.count(status: 400)
            return connection.respond(status: 400, body: kind.wire.errorBody(status: 400, message: error.message))
        }
        let sessionID = RequestScan.session(head: request.head, kind: kind, bodySession: info.bodySession)
        var session = sessionID.map { SessionKey($0) }
        if session == nil, let affinity = shared.selector.affinity, affinity.digestsPrompts {
            session = RequestScan.promptDigest(body: request.body, info: info)
        }
        // Looked up once: its group routes (when the table has groups), its owner and group
        // go on the record, and `admit` checks its limits.
        let token = tokenOf(auth)
        let group = table.hasGroups ? token?.groupID : nil
        let status = shared.selector.select(table: table, kind: kind, model: info.model, group: group, session: session,
                                            now: loop.now, cooldowns: shared.cooldowns, into: &candidateScratch)
        var record = RequestRecord()
        record.timeMillis = wallClockMillis()
        record.requestID = connection.requestID
        if case .token(let id) = auth { record.tokenID = id }
        record.userID = token?.ownerUserID
        record.groupID = token?.groupID
        record.protocolName = kind.rawValue
        record.path = recordStrings.path(ofTarget: request.head.targetBytes)
        record.requestedModel = info.model
        record.stream = info.stream
        record.clientAddress = recordStrings.address(of: request.peer)
        record.userAgent = recordStrings.userAgent(request.head.value("user-agent"))
        switch status {
        case .noChannelForModel:
            return refuse(connection, kind, 503, "no channel serves model \(info.model)", record)
        case .unavailable where candidateScratch.isEmpty:
            return refuse(connection, kind, 503, "every channel serving model \(info.model) is cooling down or at its limit", record)
        default:
            break
        }
        let first = candidateScratch.first
        let admission: TokenAdmission
        switch admit(token, head: request.head, model: info.model, nowMillis: record.timeMillis, estimate: {
            // At the first candidate's price: the channel most likely to serve it.
            guard let c = first else { return 0 }
            return shared.pricing.estimate(price(of: c.upstreamModel), bodyBytes: request.body.count, maxOutputTokens: info.maxOutputTokens,
                                           multiplier: table.channels[c.channelIndex].costMultiplier)
        }) {
        case .refused(let no):
            return refuse(connection, kind, no.status, no.message, record, retryAfter: no.retryAfterSeconds)
        case .admitted(let a):
            admission = a
        }
        let relay = Relay(handler: self, client: connection, request: request, route: route, info: info,
                          session: session, table: table, candidates: candidateScratch, record: record)
        relay.admission = admission
        relay.start()
    }

    /// A pass-through request (no channel table): the same token admission as the relay
    /// (`admit`), then `PassThrough`. The body of a known route is scanned for its model
    /// and output limit; one ccload cannot read is forwarded as it is unless the token's
    /// model limit needs the model, and a body with a repeated key is refused either way.
    /// Spend is metered (the answer's usage tapped and priced) for cost-capped tokens only.
    /// A model-limited token's `/v1/models` is answered here with its models.
    private func passThrough(_ request: HTTPRequest, _ upstream: UpstreamTarget, _ connection: HTTPServerConnection) {
        let auth = authOutcome(request)
        if let refusal = Self.refusal(auth) {
            shared.counters.count(status: refusal.status)
            return Self.fail(connection, refusal.status, refusal.message)
        }
        let route = ProtocolRules.route(request.head)
        let kind = route?.kind ?? .anthropic
        let token = tokenOf(auth)
        let listsModels = route?.endpoint == .models
        var info: RequestInfo?
        var priced: (kind: ProtocolKind, model: String)?
        if let route, !listsModels {
            do {
                let scanned = try RequestScan.scan(body: request.body, kind: route.kind, target: request.head.targetBytes)
                info = scanned
                // Only a capped token's answers are metered (the tap holds a non-streamed body).
                if token?.hasCostCap == true { priced = (route.kind, scanned.model) }
            } catch {
                let forward = token?.allowedModels == nil && (error == .notJSON || error == .noModel)
                if !forward {
                    shared.counters.count(status: 400)
                    return connection.respond(status: 400, body: kind.wire.errorBody(status: 400, message: error.message))
                }
            }
        }
        let body = request.body.count
        guard let admission = admitOrRefuse(auth, head: request.head, model: info?.model, kind: kind, modelsEndpoint: listsModels, connection, estimate: {
            info.map { shared.pricing.estimate(price(of: $0.model), bodyBytes: body, maxOutputTokens: $0.maxOutputTokens) } ?? 0
        }) else { return }
        if listsModels, let allowed = token?.allowedModels {
            settle(admission, costMicroUSD: 0)
            return connection.respond(status: 200, body: kind.wire.modelsList(allowed.sorted()))
        }
        let exchange = PassThrough(handler: self, client: connection, request: request, target: upstream, admission: admission,
                                   priced: priced)
        connection.userData = exchange
        exchange.start()
    }

    private func refuse(_ c: HTTPServerConnection, _ kind: ProtocolKind, _ status: Int, _ message: String,
                        _ record: RequestRecord, retryAfter: Int? = nil) {
        var r = record
        r.status = status
        r.error = message
        keepRecord(r)
        c.respond(status: status, extraHeaders: retryAfter.map { [("retry-after", String($0))] } ?? [],
                  body: kind.wire.errorBody(status: status, message: message))
    }

    /// Keeps a finished request's record: counted and in the ring at once
    /// (`ProxyShared.keep`); for the store, queued with the rest of this round and handed
    /// to the writer under one lock when the round ends (`RecordHandOff`). Never waits: a
    /// full queue drops and counts. On the loop.
    /// The price of `model` (the loop's last one when it is the same model).
    func price(of model: String) -> ModelPrice? {
        loop.assertOnLoop()
        return priceMemo.price(of: model, in: shared.pricing)
    }

    func keepRecord(_ record: consuming RequestRecord) {
        loop.assertOnLoop()
        guard shared.keep(&record) else { return }
        handOff?.add(record, on: loop)
    }

    func preferredURL(channelID: Int, count: Int) -> Int {
        loop.assertOnLoop()
        guard count > 1, let i = preferredURLs[channelID], i < count else { return 0 }
        return i
    }

    func notePreferredURL(channelID: Int, index: Int) {
        loop.assertOnLoop()
        if index != 0 || preferredURLs[channelID] != nil { preferredURLs[channelID] = index }
    }

    static func fail(_ c: HTTPServerConnection, _ status: Int, _ message: String) {
        c.respond(status: status, body: ErrorBody.anthropic(status: status, message: message))
    }
}

extension AuthOutcome {
    /// As a `HeadNote` value: a token's id (≥ 0) or -1 for loopback; nil for an outcome
    /// that is refused (it never reaches `handle`).
    fileprivate var headNoteValue: Int? {
        switch self {
        case .token(let id) where id >= 0: return id
        case .loopback: return -1
        default: return nil
        }
    }

    fileprivate init?(headNoteValue v: Int) {
        if v >= 0 {
            self = .token(v)
        } else if v == -1 {
            self = .loopback
        } else {
            return nil
        }
    }
}
