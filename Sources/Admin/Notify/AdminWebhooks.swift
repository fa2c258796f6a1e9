import Foundation
import Proxy
import Reactor

/// `GET /admin/webhooks`: the webhooks in force (masked) and the dispatcher's counts;
/// `POST /admin/webhooks/test`: one sample notice sent at once to one of them (no queue, no
/// retry), answered with what the receiver said. No URL (it may hold a token) and no
/// receiver body appear in either answer.
enum AdminWebhooks {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/webhooks", .admin, list),
        AdminRoute("POST", "/admin/webhooks/test", .admin, test),
    ]

    /// How long the test waits for the receiver.
    static let testTimeoutNanos: UInt64 = 10 * nanosPerSecond

    struct Hook: Encodable, Sendable {
        let index: Int
        let format: String
        let masked: String
    }

    struct Counts: Encodable, Sendable {
        let sent: UInt64, failed: UInt64, retried: UInt64, dropped: UInt64, queued: Int

        init(_ c: NoticeDispatcher.Counts) {
            sent = c.sent
            failed = c.failed
            retried = c.retried
            dropped = c.dropped
            queued = c.queued
        }
    }

    struct ListReply: Encodable, Sendable {
        let data: [Hook]
        let counts: Counts
    }

    struct Input: Decodable {
        let index: Int?
    }

    struct TestReply: Encodable, Sendable {
        let index: Int
        let webhook: String
        let ok: Bool
        let status: Int?
        let durationMs: UInt64
        let error: String?

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(webhook, forKey: .webhook)
            try c.encode(ok, forKey: .ok)
            try c.encode(status, forKey: .status)
            try c.encode(durationMs, forKey: .durationMs)
            try c.encode(error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey { case index, webhook, ok, status, durationMs, error }
    }

    static func list(_ call: AdminCall) {
        let hooks = call.control.live.settings.webhooks
        call.json(ListReply(data: hooks.enumerated().map { Hook(index: $0.offset, format: $0.element.format.rawValue, masked: $0.element.masked) },
                            counts: Counts(Notices.dispatcher?.counts ?? NoticeDispatcher.Counts())))
    }

    /// `{"index": n}` (0-based; default 0).
    static func test(_ call: AdminCall) {
        do throws(AdminError) {
            let input = call.body.isEmpty ? Input(index: nil) : try call.decode(Input.self)
            let hooks = call.control.live.settings.webhooks
            guard !hooks.isEmpty else { throw AdminError(404, "no webhooks are set (the webhooks setting is empty)") }
            let index = input.index ?? 0
            guard hooks.indices.contains(index) else {
                throw AdminError.invalid("index", "index must be between 0 and \(hooks.count - 1)")
            }
            let hook = hooks[index]
            NoticeDispatcher.send(hook, WebhookPayload.sample, pool: call.proxy.pool, timeoutNanos: testTimeoutNanos) { r in
                let ok = NoticeDispatcher.accepted(r)
                call.json(TestReply(index: index, webhook: hook.masked, ok: ok, status: r.status,
                                    durationMs: r.durationNanos / 1_000_000, error: ok ? nil : NoticeDispatcher.describe(r)))
            }
        } catch {
            call.fail(error)
        }
    }
}
