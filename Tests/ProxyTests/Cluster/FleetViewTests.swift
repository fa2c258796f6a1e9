import Glibc
import Reactor
import XCTest

@testable import Proxy

final class FleetViewTests: XCTestCase {

    private func request(_ id: UInt64, elapsedMillis: UInt64, model: String = "claude-sonnet-4") -> ActiveRequest {
        ActiveRequest(id: id, channelID: 3, channelName: "main, eu", model: model, protocolName: "anthropic", stream: true,
                      elapsedNanos: elapsedMillis * 1_000_000, bytesStreamed: 42, client: "10.0.0.9", tokenID: 7)
    }

    func testFleetListsBothAndDropsASilentOne() {
        let hub = LoopbackClusterHub()
        let busA = ClusterBus(instance: "a", transport: hub.transport())
        let busB = ClusterBus(instance: "b", transport: hub.transport())
        let a = FleetView(identity: .init(name: "x", startMillis: 1, address: "10.0.0.1:8080", version: "1.0"), expiryNanos: 600_000_000)
        let b = FleetView(identity: .init(name: "y", startMillis: 2, address: nil, version: "1.0"), expiryNanos: 600_000_000)
        a.attach(to: busA, heartbeatNanos: 100_000_000) { done in done(.init(activeRequests: 0, streams: 0, requests: [])) }
        let requests = (0..<60).map { self.request(UInt64($0), elapsedMillis: UInt64(1_000 + $0)) }
        b.attach(to: busB, heartbeatNanos: 100_000_000) { done in done(.init(activeRequests: 60, streams: 60, requests: requests)) }
        XCTAssertEqual(a.identity.name, "a", "the bus's name")
        busA.start(); busB.start(); a.start(); b.start()
        defer { a.stop(); busA.stop(); busB.stop() }
        waitUntil("a to list b") { a.instances(local: (1, 0)).count == 2 }
        let list = a.instances(local: (1, 0))
        XCTAssertEqual(list.map(\.name), ["a", "b"])
        XCTAssertEqual(list[0].local, true)
        XCTAssertEqual(list[0].activeRequests, 1)
        XCTAssertEqual(list[0].address, "10.0.0.1:8080")
        XCTAssertEqual(list[1].activeRequests, 60)
        XCTAssertNil(list[1].address)
        waitUntil("b's requests") { a.peerRequests().count == FleetMessage.maxRequests }
        let peer = a.peerRequests()
        XCTAssertTrue(peer.allSatisfy { $0.instance == "b" })
        XCTAssertEqual(Set(peer.map(\.request.id)), Set((0..<50).map(UInt64.init)), "the newest 50")
        XCTAssertEqual(peer.first { $0.request.id == 0 }?.request.channelName, "main, eu")
        XCTAssertEqual(peer.first { $0.request.id == 0 }?.request.model, "claude-sonnet-4")
        XCTAssertGreaterThanOrEqual(peer.first { $0.request.id == 0 }?.request.elapsedNanos ?? 0, 1_000_000_000)
        b.stop()
        waitUntil("b to drop out", within: 3) { a.instances(local: (0, 0)).count == 1 }
        XCTAssertEqual(a.peerRequests().count, 0)
        XCTAssertEqual(a.malformed.withLock { $0 }, 0)
    }

    /// A view asked with a `now` read just before the bus's thread noted a heartbeat: that
    /// peer is live (its silence is 0, not a wrapped 2^64 ns), and so are its requests' ages.
    func testAPeerHeardAfterTheQuestionsClockIsLive() {
        let view = FleetView(identity: .init(name: "me", startMillis: 1), expiryNanos: 1_000_000_000)
        let heard: UInt64 = 5_000_000_000
        let beat = FleetMessage.heartbeat(.init(seq: 1, startMillis: 2, address: nil, activeRequests: 1, streams: 0, version: "v"))
        view.receive(ClusterMessage(sender: "peer", topic: .instance, body: beat.encoded()[0]), nowNanos: heard)
        let reqs = FleetMessage.requests(seq: 1, [FleetMessage.Request(id: 7, tokenID: nil, channelID: 3, stream: false, elapsedMillis: 20,
                                                                       bytesStreamed: 0, model: "m", channelName: "c", protocolName: "anthropic", client: "x")])
        for body in reqs.encoded() { view.receive(ClusterMessage(sender: "peer", topic: .instance, body: body), nowNanos: heard) }
        XCTAssertEqual(view.instances(local: (0, 0), nowNanos: heard - 1).map(\.name), ["me", "peer"])
        let r = view.peerRequests(nowNanos: heard - 1)
        XCTAssertEqual(r.map(\.request.id), [7])
        XCTAssertEqual(r.first?.request.elapsedNanos, 20_000_000, "its age as it said, not saturated")
        XCTAssertEqual(view.instances(local: (0, 0), nowNanos: heard + 1_000_000_000).count, 1, "silent for the expiry: gone")
    }

    func testFleetMessagesRoundTripAndJunkIsCountedAndIgnored() {
        let h = FleetMessage.heartbeat(.init(seq: 4, startMillis: 9, address: "[::1]:80", activeRequests: 2, streams: 1, version: "1.2 beta"))
        XCTAssertEqual(h.encoded(), ["F1 4 9 %5B::1%5D:80 2 1 1.2%20beta"])
        XCTAssertEqual(FleetMessage.parse(h.encoded()[0][...]), h)
        let bare = FleetMessage.heartbeat(.init(seq: 1, startMillis: 2, address: nil, activeRequests: 0, streams: 0, version: ""))
        XCTAssertEqual(bare.encoded(), ["F1 1 2 - 0 0 -"])
        XCTAssertEqual(FleetMessage.parse(bare.encoded()[0][...]), bare)
        let r = FleetMessage.requests(seq: 4, [.init(id: 1, tokenID: nil, channelID: nil, stream: false, elapsedMillis: 5, bytesStreamed: 0,
                                                     model: "gpt-5", channelName: nil, protocolName: "openai", client: "")])
        XCTAssertEqual(r.encoded(), ["A1 4 1,-,-,0,5,0,gpt-5,,openai,"])
        XCTAssertEqual(FleetMessage.parse(r.encoded()[0][...]), r)
        let view = FleetView()
        for junk in ["F1 1 2 - 3 4", "F1 1 2 %zz 3 4 v", "F1 1 2 a%41 3 4 v", "A1 1 1,-,-,2,5,0,m,,p,", "A1 1 1,-,-,0,5,0,m,,p",
                     "A1 1", "X1 1 2", "F1 1 2 - 3 4 v extra", "F1 1 2 - 3 4 héllo"] {
            view.receive(ClusterMessage(sender: "p", topic: .instance, body: junk), nowNanos: 1)
        }
        XCTAssertEqual(view.malformed.withLock { $0 }, 9)
        XCTAssertEqual(view.instances(local: (0, 0), nowNanos: 2).count, 1, "no peer from junk")
    }
}
