import Proxy
import Reactor

/// `GET /admin/active-requests`: what every loop has in flight now, asked of each loop on
/// its own thread (nothing on the request path is shared for this), with what the live
/// peers' last heartbeats carried (`FleetView`); `GET /admin/instances`: the live instances.
enum AdminLive {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/active-requests", .admin, activeRequests),
        AdminRoute("GET", "/admin/instances", .admin, instances),
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
        let instance: String

        init(_ a: ActiveRequest, instance: String) {
            self.instance = instance
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
        let fleet = call.control.shared.fleet
        call.control.gather({ $0.active.snapshot() }, on: call.loop) { perLoop in
            let me = fleet.identity.name
            let all = perLoop.joined().map { ActiveView($0, instance: me) }
                + fleet.peerRequests().map { ActiveView($0.request, instance: $0.instance) }
            call.json(Reply(data: all.sorted { $0.elapsedMs > $1.elapsedMs }))
        }
    }

    struct InstanceView: Encodable, Sendable {
        let name: String
        let startedMs: UInt64
        let address: OrNull<String>
        let version: String
        let activeRequests: Int
        let activeStreams: Int
        let local: Bool
        let silentMs: UInt64

        init(_ i: FleetView.Instance) {
            name = i.name
            startedMs = i.startMillis
            address = OrNull(i.address)
            version = i.version
            activeRequests = i.activeRequests
            activeStreams = i.streams
            local = i.local
            silentMs = i.silentMillis
        }
    }

    struct Instances: Encodable, Sendable { let data: [InstanceView] }

    static func instances(_ call: AdminCall) {
        let fleet = call.control.shared.fleet
        call.control.gather({ ($0.active.count, $0.active.streamCount) }, on: call.loop) { perLoop in
            let local = (activeRequests: perLoop.reduce(0) { $0 + $1.0 }, streams: perLoop.reduce(0) { $0 + $1.1 })
            call.json(Instances(data: fleet.instances(local: local).map(InstanceView.init)))
        }
    }
}
