// The cluster bodies (`LimitBatch` on the `limits` topic, `FleetMessage` on `instance`) on
// any bytes. Never traps; a body that parses is canonical (it encodes back to exactly
// itself: one spelling per message); and what parses, handed to a `LimitSync` and a
// `FleetView` as a peer's message and followed by a tick and an admission with every
// limit set, never traps either (saturating sums on whatever a peer sends).

@testable import Proxy
@testable import Reactor

private let wall: UInt64 = 1_800_000_000_000

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    let bytes = input.rest()
    let body = String(decoding: bytes, as: UTF8.self)
    let ascii = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }

    if let batch = LimitBatch.parse(body[...]) {
        check(ascii, "a limits body with a byte outside printable ASCII parsed: \(show(bytes))")
        check(batch.encoded() == body, "not canonical: \(show(bytes)) -> \(batch.encoded())")
        check(batch.records.count <= LimitBatch.maxRecords, "too many records: \(batch.records.count)")
    }
    let fleet = FleetMessage.parse(body[...])
    if let m = fleet {
        check(ascii, "an instance body with a byte outside printable ASCII parsed: \(show(bytes))")
        let again = m.encoded()
        check(again.count == 1, "one body in, \(again.count) out: \(show(bytes))")
        // Texts decode to UTF-8 or are repaired (U+FFFD); a body whose texts are ASCII reads back exactly.
        if !body.contains("%8"), !body.contains("%9"), !body.contains("%A"), !body.contains("%B"), !body.contains("%C"),
           !body.contains("%D"), !body.contains("%E"), !body.contains("%F") {
            check(again.first == body, "not canonical: \(show(bytes)) -> \(again)")
        }
    }

    if mode & 1 != 0 {
        // The body as a peer's: receive, aggregate, admit.
        let hub = LoopbackClusterHub()
        let bus = ClusterBus(instance: "me", transport: hub.transport())
        let meters = TokenMeters()
        let sync = LimitSync(meters: meters, bus: bus, wallMillis: { wall })
        sync.receive(ClusterMessage(sender: "peer", topic: .limits, body: body))
        if mode & 2 != 0 {
            let minute = wall / 60_000, day = wall / 86_400_000
            sync.receive(ClusterMessage(sender: "peer2", topic: .limits,
                                        body: "L1 1 \(minute) \(day) u 7:\(LimitBatch.maxCount):\(LimitBatch.maxCount):\(ClusterText.maxNumber):\(ClusterText.maxNumber):\(ClusterText.maxNumber):\(ClusterText.maxNumber):\(ClusterText.maxNumber)"))
        }
        sync.tick(now: monotonicNanos())
        var t = ClientToken(id: 7, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        t.requestsPerMinute = Int(input.byte())
        t.maxConcurrency = Int(input.byte())
        t.dailyCostCapMicroUSD = .max
        t.weeklyCostCapMicroUSD = .max
        t.monthlyCostCapMicroUSD = .max
        t.totalCostCapMicroUSD = .max
        _ = meters.admit(t, model: "m", reserveMicroUSD: .max, nowMillis: wall)
        meters.finish(tokenID: 7, costMicroUSD: .max, reservedMicroUSD: .max, nowMillis: wall)
        let view = FleetView()
        view.receive(ClusterMessage(sender: "peer", topic: .instance, body: body), nowNanos: 1)
        _ = view.instances(local: (0, 0), nowNanos: 2)
        _ = view.peerRequests(nowNanos: .max)
        check(view.malformed.withLock { $0 } == (fleet == nil ? 1 : 0), "fleet view's malformed count")
    }
    return 0
}
