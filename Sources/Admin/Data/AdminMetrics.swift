import Foundation
import Proxy
import Reactor
import TLS

/// `GET /admin/metrics` (JSON, admin session) and `GET /metrics` (Prometheus text, open,
/// only with `CCLOAD_METRICS=1`): the same snapshot of process counters and gauges, read
/// from memory (in-flight counts are asked of every loop). `/metrics` adds the cache hit
/// rates of the last 24 hours from the hourly statistics (one read on a reader thread).
enum AdminMetrics {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/metrics", .admin, json),
        AdminRoute("GET", "/metrics", .open, prometheus),
    ]

    /// What is cooling on one channel.
    struct ChannelCooling: Encodable, Sendable {
        let channelId: Int
        let channelName: OrNull<String>
        /// The channel's own cooldown (0 when only keys or models cool).
        let remainingMs: UInt64
        let failures: Int
        let keysCooling: Int
        let modelsCooling: Int
    }

    struct Writer: Encodable, Sendable {
        let accepted: UInt64, written: UInt64, queued: Int, dropped: UInt64
        let droppedQueueFull: UInt64, droppedWriteFailed: UInt64, batches: UInt64, failedBatches: UInt64
        /// Batches kept and tried again while the database server could not be reached.
        let retriedBatches: UInt64
        /// Batches stored whole while the relay was busy, their rows not yet moved into the
        /// log table (`pending_rows`), and the segments moved so far.
        let packedBatches: UInt64, pendingRows: Int, movedSegments: UInt64
        let lastError: OrNull<String>
    }

    /// The login limit since start: passwords hashed (attempts that got past the limit),
    /// logins refused by the per-source limit (429) and by the cap on hashes at once (503).
    struct Logins: Encodable, Sendable {
        let hashed: UInt64, limited: UInt64, busy: UInt64, inFlight: Int, sources: Int, sourcesEvicted: UInt64

        init(_ c: LoginLimiter.Counts) {
            hashed = c.hashed
            limited = c.limited
            busy = c.busy
            inFlight = c.inFlight
            sources = c.sources
            sourcesEvicted = c.evicted
        }
    }

    /// Client connections since start: accepted, turned away at the connection cap
    /// (`CCLOAD_MAX_CONNECTIONS`), shed with a 503 for lack of descriptors, and the times a
    /// listener ran out of descriptors (process-wide).
    struct ClientConnections: Encodable, Sendable {
        let accepted: Int, refusedAtLimit: Int, shedOutOfDescriptors: Int, descriptorExhaustions: Int

        static var now: ClientConnections {
            ClientConnections(accepted: HTTPServer.acceptedTotal.load(ordering: .relaxed),
                              refusedAtLimit: HTTPServer.refusedTotal.load(ordering: .relaxed),
                              shedOutOfDescriptors: Listener.shedTotal.load(ordering: .relaxed),
                              descriptorExhaustions: Listener.exhaustedTotal.load(ordering: .relaxed))
        }
    }

    struct Snapshot: Encodable, Sendable {
        /// Finished requests by status class: `2xx`, `4xx` (429 included), `429`, `5xx`, `other`, and `total`.
        let requests: [String: UInt64]
        let activeRequests: Int
        let activeStreams: Int
        let requestLogWriter: Writer
        let upstreamConnectionsOpened: Int, upstreamPooledReuses: Int
        let tlsHandshakesFull: Int, tlsHandshakesResumed: Int
        let coolingScopes: Int
        let channelCooldowns: [ChannelCooling]
        let uptimeSeconds: UInt64
        let logins: Logins
        let clientConnections: ClientConnections
        /// Webhook deliveries (`NoticeDispatcher`): sent, failed, retried, dropped (queue full), queued.
        let webhooks: AdminWebhooks.Counts
        /// Sessions the affinity table holds (expired ones until swept).
        let affinitySessions: Int
        /// The cluster bus (a PostgreSQL store); null with SQLite.
        let cluster: OrNull<Cluster>
    }

    /// The cluster bus since start: peers heard within 3 s, messages sent and received,
    /// dropped before sending (queue full, or too long for one notification), refused on
    /// arrival (malformed), failed sends and receives (the connection lost), resyncs.
    struct Cluster: Encodable, Sendable {
        let peers: Int, sent: Int, received: Int, dropped: Int, malformed: Int
        let sendFailures: Int, receiveFailures: Int, resyncs: Int

        init(peers: Int, _ c: ClusterBus.Counters.Values) {
            self.peers = peers
            sent = c.sent
            received = c.received
            dropped = c.dropped
            malformed = c.malformed
            sendFailures = c.sendFailures
            receiveFailures = c.receiveFailures
            resyncs = c.resyncs
        }
    }

    /// The cache hit rate (`StatsTotals.cacheHitRate`) of one channel, model or token over
    /// the last 24 hours.
    struct HitRate: Sendable {
        let by: String, key: String, name: String, rate: Double
    }

    /// The last 24 hours' hit rates by channel, model and token, and overall (`by` "all").
    static func hitRates(_ reader: StoreReader, nowMillis: UInt64) -> [HitRate] {
        let from = nowMillis > 24 * AdminQueries.hourMillis ? nowMillis - 24 * AdminQueries.hourMillis : 0
        var out: [HitRate] = []
        let channels = Dictionary(((try? reader.store.channels()) ?? []).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let tokens = (try? AdminQueries.tokenNames(reader)) ?? [:]
        for g in [StatsGrouping.all, .channel, .model, .token] {
            for row in (try? reader.stats(fromMillis: from, toMillis: nowMillis, by: g)) ?? [] {
                guard let rate = row.totals.cacheHitRate else { continue }
                let name: String
                switch g {
                case .channel: name = Int(row.key).flatMap { channels[$0] } ?? ""
                case .token: name = Int(row.key).flatMap { tokens[$0] } ?? ""
                default: name = row.key
                }
                out.append(HitRate(by: g.rawValue, key: row.key, name: name, rate: rate))
            }
        }
        return out
    }

    /// Gathers the snapshot (in-flight counts from every loop) and hands it back on the call's loop.
    static func collect(_ call: AdminCall, _ done: @escaping (Snapshot) -> Void) {
        let ctx = call.context
        call.control.gather({ ($0.active.count, $0.active.streamCount) }, on: call.loop) { perLoop in
            let shared = ctx.shared
            let counters = shared.counters
            var requests = ["total": counters.total]
            for c in RequestCounters.Class.allCases { requests[c.label] = counters.value(c) }
            let w = ctx.store.writer.snapshot()
            let writer = Writer(accepted: w.accepted, written: w.written, queued: ctx.store.writer.queuedCount,
                                dropped: w.dropped, droppedQueueFull: w.droppedQueueFull,
                                droppedWriteFailed: w.droppedWriteFailed, batches: w.batches, failedBatches: w.failedBatches,
                                retriedBatches: w.retriedBatches, packedBatches: w.packedBatches, pendingRows: w.pendingLogRows,
                                movedSegments: w.movedSegments, lastError: OrNull(w.lastError))
            let cooling = shared.cooldowns.snapshot(now: call.loop.now).filter { $0.remainingNanos > 0 }
            let names = Dictionary((ctx.control.live.table?.channels ?? []).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            var byChannel: [Int: (remaining: UInt64, failures: Int, keys: Int, models: Int)] = [:]
            for e in cooling {
                var c = byChannel[e.scope.channelID] ?? (0, 0, 0, 0)
                switch e.scope {
                case .channel:
                    c.remaining = e.remainingNanos / 1_000_000
                    c.failures = e.consecutiveFailures
                case .key: c.keys += 1
                case .model: c.models += 1
                }
                byChannel[e.scope.channelID] = c
            }
            let channels = byChannel.sorted { $0.key < $1.key }.map {
                ChannelCooling(channelId: $0.key, channelName: OrNull(names[$0.key]), remainingMs: $0.value.remaining,
                               failures: $0.value.failures, keysCooling: $0.value.keys, modelsCooling: $0.value.models)
            }
            let now = wallClockMillis()
            done(Snapshot(requests: requests, activeRequests: perLoop.reduce(0) { $0 + $1.0 },
                          activeStreams: perLoop.reduce(0) { $0 + $1.1 }, requestLogWriter: writer,
                          upstreamConnectionsOpened: UpstreamPool.openedTotal.load(ordering: .relaxed),
                          upstreamPooledReuses: UpstreamPool.reusedTotal.load(ordering: .relaxed),
                          tlsHandshakesFull: TLSStats.fullHandshakes, tlsHandshakesResumed: TLSStats.resumedHandshakes,
                          coolingScopes: cooling.count, channelCooldowns: channels,
                          uptimeSeconds: now > ctx.startedMillis ? (now - ctx.startedMillis) / 1000 : 0,
                          logins: Logins(ctx.limiter.counts), clientConnections: .now,
                          webhooks: AdminWebhooks.Counts(Notices.dispatcher?.counts ?? NoticeDispatcher.Counts()),

                          affinitySessions: shared.selector.affinity?.count ?? 0,
                          cluster: OrNull(shared.fleet.busStatus().map { Cluster(peers: $0.peers, $0.counters) })))
        }
    }

    static func json(_ call: AdminCall) {
        collect(call) { call.json($0) }
    }

    /// Prometheus text exposition format 0.0.4; 404 unless `CCLOAD_METRICS=1`.
    static func prometheus(_ call: AdminCall) {
        guard call.context.metricsEndpoint else {
            return call.fail(404, "the Prometheus endpoint is off; start ccload with CCLOAD_METRICS=1")
        }
        collect(call) { s in
            let now = wallClockMillis()
            call.context.store.query({ hitRates($0, nowMillis: now) }, on: call.loop) { rates in
                call.respond(contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(exposition(s, hitRates: rates).utf8))
            }
        }
    }

    static func exposition(_ s: Snapshot, hitRates: [HitRate] = []) -> String {
        var out = PrometheusText()
        let w = s.requestLogWriter
        out.family("ccload_requests_total", "counter", "Finished proxy requests by response status class (429 also counts in 4xx).",
                   RequestCounters.Class.allCases.map { (["class": $0.label], Double(s.requests[$0.label] ?? 0)) })
        out.family("ccload_active_requests", "gauge", "Relayed requests in flight.", s.activeRequests)
        out.family("ccload_active_streams", "gauge", "Relayed streaming requests in flight.", s.activeStreams)
        out.family("ccload_request_log_records_total", "counter", "Request records given to the database writer, and written.",
                   [(["outcome": "accepted"], Double(w.accepted)), (["outcome": "written"], Double(w.written))])
        out.family("ccload_request_log_dropped_total", "counter", "Request records dropped, by reason.",
                   [(["reason": "queue_full"], Double(w.droppedQueueFull)), (["reason": "write_failed"], Double(w.droppedWriteFailed))])
        out.family("ccload_request_log_queued", "gauge", "Request records waiting for the database writer.", w.queued)
        out.family("ccload_request_log_pending_rows", "gauge", "Request-log rows written in packed segments and not yet moved into the log table.", w.pendingRows)
        out.family("ccload_request_log_batches_total", "counter", "Write transactions of the request log writer, by outcome.",
                   [(["outcome": "ok"], Double(w.batches - min(w.batches, w.failedBatches))), (["outcome": "failed"], Double(w.failedBatches)),
                    (["outcome": "retried"], Double(w.retriedBatches))])
        out.family("ccload_upstream_connections_opened_total", "counter", "Upstream connections opened.", s.upstreamConnectionsOpened)
        out.family("ccload_upstream_pooled_reuses_total", "counter", "Upstream requests sent on a pooled connection.", s.upstreamPooledReuses)
        out.family("ccload_tls_handshakes_total", "counter", "Upstream TLS handshakes, full or resumed.",
                   [(["kind": "full"], Double(s.tlsHandshakesFull)), (["kind": "resumed"], Double(s.tlsHandshakesResumed))])
        out.family("ccload_cooling_scopes", "gauge", "Channels, keys and models cooling down now.", s.coolingScopes)
        out.family("ccload_channel_cooldown_remaining_seconds", "gauge", "Seconds left of a channel's own cooldown.",
                   s.channelCooldowns.map { (["channel_id": String($0.channelId), "channel": $0.channelName.value ?? ""], Double($0.remainingMs) / 1000) })
        out.family("ccload_uptime_seconds", "gauge", "Seconds since ccload started.", Int(s.uptimeSeconds))
        out.family("ccload_admin_logins_total", "counter", "Admin logins: passwords hashed, refused by the per-source limit, refused while hashes were busy.",
                   [(["outcome": "hashed"], Double(s.logins.hashed)), (["outcome": "limited"], Double(s.logins.limited)),
                    (["outcome": "busy"], Double(s.logins.busy))])
        let c = s.clientConnections
        out.family("ccload_client_connections_total", "counter",
                   "Client connections: accepted, refused at the connection cap, shed for lack of file descriptors.",
                   [(["outcome": "accepted"], Double(c.accepted)), (["outcome": "refused_at_limit"], Double(c.refusedAtLimit)),
                    (["outcome": "shed_out_of_descriptors"], Double(c.shedOutOfDescriptors))])
        out.family("ccload_descriptor_exhaustions_total", "counter", "Times a listener ran out of file descriptors.", c.descriptorExhaustions)
        let h = s.webhooks
        out.family("ccload_webhook_deliveries_total", "counter",
                   "Webhook deliveries: sent (2xx), failed (given up), retried, dropped (the webhook's queue was full).",
                   [(["outcome": "sent"], Double(h.sent)), (["outcome": "failed"], Double(h.failed)),
                    (["outcome": "retried"], Double(h.retried)), (["outcome": "dropped"], Double(h.dropped))])
        out.family("ccload_webhook_queued", "gauge", "Webhook deliveries waiting or in flight.", h.queued)
        out.family("ccload_affinity_sessions", "gauge", "Sessions the affinity table holds (capped by affinity_max_sessions).", s.affinitySessions)
        if let b = s.cluster.value {
            out.family("ccload_cluster_peers", "gauge", "Other instances heard on the cluster bus within the last 3 s.", b.peers)
            out.family("ccload_cluster_messages_total", "counter", "Cluster bus messages sent and received.",
                       [(["direction": "sent"], Double(b.sent)), (["direction": "received"], Double(b.received))])
            out.family("ccload_cluster_messages_dropped_total", "counter",
                       "Cluster bus messages dropped: before sending (queue full or too long), or refused on arrival (malformed).",
                       [(["reason": "not_sent"], Double(b.dropped)), (["reason": "malformed"], Double(b.malformed))])
            out.family("ccload_cluster_failures_total", "counter", "Cluster bus sends and receives that failed (the connection lost).",
                       [(["op": "send"], Double(b.sendFailures)), (["op": "receive"], Double(b.receiveFailures))])
            out.family("ccload_cluster_resyncs_total", "counter", "Resyncs after the cluster bus came back.", b.resyncs)
        }
        if !hitRates.isEmpty {
            out.family("ccload_cache_hit_ratio", "gauge",
                       "Share of input tokens read from the upstream prompt cache over the last 24 hours: cache_read / (input + cache_read + cache_write), by channel, model, token, or all.",
                       hitRates.map { (["by": $0.by, "key": $0.key, "name": $0.name], $0.rate) })
        }
        return out.text
    }
}

/// Builds Prometheus text exposition (format 0.0.4): `# HELP` and `# TYPE` per family,
/// then its samples with escaped label values.
struct PrometheusText {
    private(set) var text = ""

    /// A family with its samples (label set, value).
    mutating func family(_ name: String, _ type: String, _ help: String, _ samples: [([String: String], Double)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",") + "}"
            }
            text += " " + Self.format(value) + "\n"
        }
    }

    /// A family of one unlabelled sample.
    mutating func family(_ name: String, _ type: String, _ help: String, _ value: Int) {
        family(name, type, help, [([:], Double(value))])
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
