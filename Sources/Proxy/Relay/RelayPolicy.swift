import Reactor

/// The policy of one relayed request: everything `Relay` (the byte engine) decides by
/// asking, in named hooks the engine calls at fixed points, the way pingora's `ProxyHttp`
/// hooks read. Each hook lives in its own file:
///
/// | hook | when the engine calls it | what it decides or does |
/// |---|---|---|
/// | `pick` (RelayPick.swift) | before every try | the candidate, key and base URL; concurrency and daily-spend holds |
/// | `rewriteRequest` (RelayRewriteRequest.swift) | a connection is ready | the upstream head and body (path, model, credential) |
/// | `classifyAnswer` (RelayClassifyAnswer.swift) | an error answer or a stream error event before the commit point | pass through or fail over |
/// | `onFailure` (RelayOnFailure.swift) | a try failed before the commit point | what cools, the try's note, what to try next |
/// | `onCommit` (RelayOnCommit.swift) | the first bytes go to the client | the record's status and first-byte time, the base URL that answered |
/// | `onSuccess` (RelayOnSuccess.swift) | a committed answer ended cleanly | cooldown credit and session affinity |
/// | `onFinish` (RelayOnFinish.swift) | the request is over, however it ended | the record, the price, spend and the token's meter |
///
/// A value stored in its `Relay` (no allocation of its own). Every hook the engine calls is
/// `mutating`, even one that only reads: the engine keeps the policy in a class property,
/// and a non-mutating call there copied the whole policy first (each of its arrays and
/// strings retained and released, three times per request in callgrind). Owner: the client
/// connection's loop (through its `Relay`).
struct RelayPolicy {
    /// Strong, as the relay's own (the handler outlives its requests).
    let handler: ProxyHandler
    let route: APIRoute
    /// The route's wire format, looked up once per request.
    let wire: any WireProtocol.Type
    let info: RequestInfo
    /// The request body's length, for cost estimates.
    let bodyBytes: Int
    let session: SessionKey?
    let table: ChannelTable
    let candidates: [Candidate]
    var record: RequestRecord
    let startNanos: UInt64
    /// The token's admission (set before the relay starts), settled in `onFinish`.
    var admission = TokenAdmission(tokenID: nil)

    // The try cursor: which candidate, which of its keys, which of its base URLs.
    var candidateIndex = 0
    var keyPosition = 0
    /// Which of the channel's base URLs this try uses, and how many it has tried.
    var urlIndex = 0
    var urlsTried = 0
    /// Tries sent so far (bounded by `ProxyShared.maxAttempts`).
    var attempts = 0
    /// The channel's concurrency slot the current try holds.
    var counting: ChannelCounters?
    /// The estimate the current try holds against its channel's daily cost limit.
    var channelReservation: (channelID: Int, microUSD: Int)?

    init(handler: ProxyHandler, route: APIRoute, info: RequestInfo, bodyBytes: Int, session: SessionKey?, table: ChannelTable,
         candidates: [Candidate], record: consuming RequestRecord) {
        self.handler = handler
        self.route = route
        self.wire = route.kind.wire
        self.info = info
        self.bodyBytes = bodyBytes
        self.session = session
        self.table = table
        self.candidates = candidates
        self.record = record
        self.startNanos = handler.loop.now
    }

    // MARK: the current try

    // Read accessors: each use borrows the table's value in place (a getter returned a copy,
    // retaining every string and array of a `Channel` or a `Candidate`, several per request).
    var current: Candidate { _read { yield candidates[candidateIndex] } }
    var channel: Channel { _read { yield table.channels[candidates[candidateIndex].channelIndex] } }
    var keyIndex: Int { candidates[candidateIndex].keys[keyPosition] }
    var target: UpstreamTarget { _read { yield table.targets[candidates[candidateIndex].channelIndex][urlIndex] } }
    /// Whether a candidate is (still) the current one: false once every candidate was passed.
    var hasChannel: Bool { candidateIndex < candidates.count }

    /// The current channel's first-byte timeout (its own, clamped like the setting), else the setting.
    var firstByteTimeoutNanos: UInt64 {
        mutating get {
            channel.firstByteTimeoutSeconds.map(RuntimeSettings.firstByteTimeoutNanos(seconds:)) ?? handler.config.firstByteTimeoutNanos
        }
    }

    /// Points the cursor back at the try whose answer the client gets (the record names that channel).
    mutating func restore(candidate: Int, keyPosition: Int) {
        candidateIndex = candidate
        self.keyPosition = keyPosition
    }
}
