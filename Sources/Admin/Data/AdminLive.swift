import Proxy
import Reactor

/// `GET /admin/active-requests`: what every loop has in flight now, asked of each loop on
/// its own thread (nothing on the request path is shared for this).
enum AdminLive {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/active-requests", .admin, activeRequests),
    ]

    struct ActiveView: Encodable, Sendable {
        let id: UInt64
        let channelId: OrNull<Int>
        let channelName: OrNull<String>
        let model: String
        let `protocol`: String
        let stream: Bool
        let elapsedMs: UInt64
        let bytesStreamed: UInt64
        let client: String
        let tokenId: OrNull<Int>

        init(_ a: ActiveRequest) {
            id = a.id
            channelId = OrNull(a.channelID)
            channelName = OrNull(a.channelName)
            model = a.model
            self.protocol = a.protocolName
            stream = a.stream
            elapsedMs = a.elapsedNanos / 1_000_000
            bytesStreamed = a.bytesStreamed
            client = a.client
            tokenId = OrNull(a.tokenID)
        }
    }

    struct Reply: Encodable, Sendable { let data: [ActiveView] }

    static func activeRequests(_ call: AdminCall) {
        call.control.gather({ $0.active.snapshot() }, on: call.loop) { perLoop in
            let all = perLoop.joined().sorted { $0.elapsedNanos > $1.elapsedNanos }
            call.json(Reply(data: all.map(ActiveView.init)))
        }
    }
}
