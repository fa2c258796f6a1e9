import Foundation
import Proxy
import Reactor
import TLS

/// The loop's top-level handler: `/admin/*` is answered here, everything else goes to
/// the proxy. Admin requests are authenticated like proxy requests (a ccload token, or
/// loopback when none are configured) until admin sessions exist. Owner: one loop.
public final class AdminRouter: HTTPRequestHandler, @unchecked Sendable {
    private let proxy: ProxyHandler

    public init(proxy: ProxyHandler) {
        self.proxy = proxy
    }

    public func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {
        let target = request.head.targetBytes
        guard target.starts(with: Array("/admin/".utf8)) else {
            return proxy.handle(request, on: connection)
        }
        switch proxy.shared.auth.check(request.head, peer: request.peer) {
        case .token, .loopback: break
        case .missing, .invalid:
            return error(connection, 401, "admin endpoints need a ccload token")
        case .notLoopback:
            return error(connection, 403, "admin endpoints are served to loopback clients only while no tokens are configured")
        }
        let (path, query) = AdminRouter.split(target)
        switch (String(decoding: request.head.bytes[request.head.method], as: UTF8.self), path) {
        case ("GET", "/admin/requests"):
            requests(query, connection)
        case ("GET", "/admin/cooldowns"):
            cooldowns(connection)
        case ("GET", "/admin/metrics"):
            metrics(connection)
        default:
            error(connection, 404, "no admin endpoint \(path)")
        }
    }

    private func requests(_ query: [String: String], _ c: HTTPServerConnection) {
        let limit = min(max(Int(query["limit"] ?? "") ?? 100, 1), 1000)
        let before = query["before"].flatMap { UInt64($0) }
        let page = proxy.shared.ring.page(limit: limit, beforeID: before)
        struct Page: Encodable { let data: [RequestRecord]; let next_before: UInt64? }
        json(c, Page(data: page, next_before: page.count == limit ? page.last?.id : nil))
    }

    private func cooldowns(_ c: HTTPServerConnection) {
        struct Entry: Encodable { let scope: String; let remaining_ms: UInt64; let failures: Int; let failure_class: String }
        let now = proxy.loop.now
        let entries = proxy.shared.cooldowns.snapshot(now: now).filter { $0.remainingNanos > 0 }.map {
            Entry(scope: $0.scope.description, remaining_ms: $0.remainingNanos / 1_000_000,
                  failures: $0.consecutiveFailures, failure_class: $0.lastClass.rawValue)
        }
        json(c, ["data": entries])
    }

    /// Process counters: the request log writer (accepted, written, dropped), the upstream
    /// pools and TLS handshakes, and what is cooling.
    private func metrics(_ c: HTTPServerConnection) {
        struct Writer: Encodable {
            let accepted: UInt64, written: UInt64, queued: Int, dropped: UInt64
            let droppedQueueFull: UInt64, droppedWriteFailed: UInt64, batches: UInt64, failedBatches: UInt64
            let lastError: String?
        }
        struct Metrics: Encodable {
            let requestLogWriter: Writer?
            let upstreamConnectionsOpened: Int, upstreamPooledReuses: Int
            let tlsHandshakesFull: Int, tlsHandshakesResumed: Int
            let coolingScopes: Int
        }
        let shared = proxy.shared
        let writer = shared.store.map { store -> Writer in
            let w = store.writer.snapshot()
            return Writer(accepted: w.accepted, written: w.written, queued: store.writer.queuedCount,
                          dropped: w.droppedQueueFull + w.droppedWriteFailed, droppedQueueFull: w.droppedQueueFull,
                          droppedWriteFailed: w.droppedWriteFailed, batches: w.batches, failedBatches: w.failedBatches,
                          lastError: w.lastError)
        }
        let now = proxy.loop.now
        json(c, Metrics(requestLogWriter: writer,
                        upstreamConnectionsOpened: UpstreamPool.openedTotal.load(ordering: .relaxed),
                        upstreamPooledReuses: UpstreamPool.reusedTotal.load(ordering: .relaxed),
                        tlsHandshakesFull: TLSStats.fullHandshakes, tlsHandshakesResumed: TLSStats.resumedHandshakes,
                        coolingScopes: shared.cooldowns.snapshot(now: now).filter { $0.remainingNanos > 0 }.count))
    }

    private func json<T: Encodable>(_ c: HTTPServerConnection, _ value: T) {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys]
        let body = (try? enc.encode(value)).map { Array($0) } ?? Array("{}".utf8)
        c.respond(status: 200, body: body)
    }

    private func error(_ c: HTTPServerConnection, _ status: Int, _ message: String) {
        c.respond(status: status, body: ErrorBody.anthropic(status: status, message: message))
    }

    static func split(_ target: ArraySlice<UInt8>) -> (String, [String: String]) {
        let s = String(decoding: target, as: UTF8.self)
        guard let q = s.firstIndex(of: "?") else { return (s, [:]) }
        var out: [String: String] = [:]
        for part in s[s.index(after: q)...].split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1)
            out[String(kv[0])] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        return (String(s[..<q]), out)
    }
}
