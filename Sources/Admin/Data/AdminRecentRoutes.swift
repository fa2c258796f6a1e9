import Foundation
import Proxy
import Reactor

/// In-memory views: the most recent requests (`/admin/requests`, from the ring, without
/// the database) and what is cooling (`/admin/cooldowns`).
enum AdminRecentRoutes {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/requests", .admin, requests),
        AdminRoute("GET", "/admin/cooldowns", .admin, cooldowns),
    ]

    static func requests(_ call: AdminCall) {
        let limit = min(max(Int(call.query["limit"] ?? "") ?? 100, 1), 1000)
        let before = call.query["before"].flatMap { UInt64($0) }
        let page = call.context.shared.ring.page(limit: limit, beforeID: before)
        struct Page: Encodable { let data: [RequestRecord]; let next_before: UInt64? }
        call.json(Page(data: page, next_before: page.count == limit ? page.last?.id : nil))
    }

    static func cooldowns(_ call: AdminCall) {
        struct Entry: Encodable { let scope: String; let remaining_ms: UInt64; let failures: Int; let failure_class: String }
        let now = call.loop.now
        let entries = call.context.shared.cooldowns.snapshot(now: now).filter { $0.remainingNanos > 0 }.map {
            Entry(scope: $0.scope.description, remaining_ms: $0.remainingNanos / 1_000_000,
                  failures: $0.consecutiveFailures, failure_class: $0.lastClass.rawValue)
        }
        call.json(["data": entries])
    }
}
