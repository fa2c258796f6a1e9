import Proxy
import Reactor

/// The version ccload reports (`/public/summary`).
public enum CcloadVersion {
    public static let string = "0.1.0"
}

/// `GET /public/summary`: open to anyone, so it holds no secret, no name of a channel or
/// token, only totals for the last 24 h, the channel count, uptime and the version.
enum PublicRoutes {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/public/summary", .open, summary),
    ]

    struct Summary: Encodable, Sendable {
        let version: String
        let uptimeSeconds: UInt64
        let channelsTotal: Int
        let channelsEnabled: Int
        let requests24h: Int64
        let successes24h: Int64
        let successRate24h: OrNull<Double>

        enum CodingKeys: String, CodingKey {
            case version, uptimeSeconds, channelsTotal, channelsEnabled
            case requests24h = "requests_24h", successes24h = "successes_24h", successRate24h = "success_rate_24h"
        }
    }

    static func summary(_ call: AdminCall) {
        let ctx = call.context
        let channels = ctx.control.live.table?.channels ?? []
        let now = wallClockMillis()
        let uptime = now > ctx.startedMillis ? (now - ctx.startedMillis) / 1000 : 0
        call.readingJSON { reader in
            let t = try reader.stats(fromMillis: now - min(now, 24 * AdminQueries.hourMillis), toMillis: now, by: .all).first?.totals
                ?? StatsTotals()
            return Summary(version: CcloadVersion.string, uptimeSeconds: uptime, channelsTotal: channels.count,
                           channelsEnabled: channels.filter(\.enabled).count, requests24h: t.requests, successes24h: t.successes,
                           successRate24h: OrNull(t.requests > 0 ? Double(t.successes) / Double(t.requests) : nil))
        }
    }
}
