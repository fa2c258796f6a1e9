import Foundation
import Reactor
import XCTest

@testable import Proxy

/// The notice pieces without a network: the webhooks setting (parse, mask, unmask), each
/// payload shape, the dispatcher's bounded queue, the once-per-transition moments of the
/// cooldown book and the once-per-period cost-cap notice.
final class NoticeTests: XCTestCase {
    let slackURL = "https://hooks.slack.com/services/T000/B000/SECRETxyz"
    let dingURL = "https://oapi.dingtalk.com/robot/send?access_token=DINGSECRET"

    override func tearDown() {
        Notices.install(nil as NoticeDispatcher?)
        super.tearDown()
    }

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testTheSettingParsesMasksAndUnmasks() throws {
        let text = "slack=\(slackURL), dingtalk=\(dingURL)\nhttp://127.0.0.1:9/plain"
        let hooks = try WebhookList.parse(text).get()
        XCTAssertEqual(hooks.map(\.format), [.slack, .dingtalk, .generic])
        XCTAssertEqual(String(decoding: hooks[1].requestTarget, as: UTF8.self), "/robot/send?access_token=DINGSECRET")
        XCTAssertEqual(String(decoding: hooks[0].target.hostHeader, as: UTF8.self), "hooks.slack.com")
        XCTAssertTrue(hooks[0].target.dial.tls)
        let masked = WebhookList.masked(text)
        XCTAssertEqual(masked, "slack=https://hooks.slack.com/****,dingtalk=https://oapi.dingtalk.com/****,generic=http://127.0.0.1:9/****")
        XCTAssertFalse(masked.contains("SECRET"))
        // Sent back masked, the stored URLs come back; one that masks nothing stored is refused.
        let back = try WebhookList.unmask(masked, stored: text).get()
        XCTAssertEqual(try WebhookList.parse(back).get(), hooks)
        XCTAssertEqual(try WebhookList.unmask("wecom=https://x.example/a?key=1", stored: text).get(), "wecom=https://x.example/a?key=1")
        XCTAssertThrowsError(try WebhookList.unmask("slack=https://other.example/****", stored: text).get())
        // Empty or none: no webhooks. Bad entries name their position, never their URL.
        XCTAssertEqual(try WebhookList.parse("").get().count, 0)
        XCTAssertEqual(try WebhookList.parse("none").get().count, 0)
        for bad in ["teams=https://x.example/SECRET", "ftp://x.example/SECRET", "https://user:SECRET@x.example/a",
                    "https://x.example/a#SECRET", "slack=https:///SECRET"] {
            guard case .failure(let e) = WebhookList.parse("http://ok.example/,\(bad)") else { return XCTFail(bad) }
            XCTAssertTrue(e.description.hasPrefix("entry 2"), e.description)
            XCTAssertFalse(e.description.contains("SECRET"), e.description)
        }
        let many = Array(repeating: "http://a.example/", count: WebhookList.maxCount)
        XCTAssertEqual(try WebhookList.parse(many.joined(separator: ",")).get().count, WebhookList.maxCount)
        XCTAssertThrowsError(try WebhookList.parse((many + ["http://a.example/"]).joined(separator: ",")).get())
        XCTAssertNoThrow(try WebhookList.parse("https://a.example/" + String(repeating: "a", count: WebhookList.maxURLLength - 18)).get())
        XCTAssertThrowsError(try WebhookList.parse("https://a.example/" + String(repeating: "a", count: WebhookList.maxURLLength - 17)).get())
        // The live settings take it and refuse a bad one, naming the setting.
        XCTAssertEqual(try RuntimeSettings(values: ["webhooks": text]).webhooks, hooks)
        XCTAssertThrowsError(try RuntimeSettings(values: ["webhooks": "teams=https://x.example/a"])) { e in
            XCTAssertTrue((e as? StoreError)?.message.contains("webhooks") ?? false)
        }
    }

    func testEachPayloadShape() throws {
        let n = Notice.cooling(channelID: 3, channel: "ch \"quoted\"", scope: "model m", untilMillis: 61_000, reason: "server")
        let now: UInt64 = 1_000
        let slack = try json(WebhookPayload.body(n, format: .slack, nowMillis: now))
        XCTAssertEqual(slack as NSDictionary, ["text": #"ccload: channel ch "quoted" (id 3) is cooling (model m, server) for 60 s"#])
        let feishu = try json(WebhookPayload.body(n, format: .feishu, nowMillis: now))
        XCTAssertEqual(feishu["msg_type"] as? String, "text")
        XCTAssertEqual((feishu["content"] as? [String: Any])?["text"] as? String, slack["text"] as? String)
        for f in [WebhookFormat.dingtalk, .wecom] {
            let j = try json(WebhookPayload.body(n, format: f, nowMillis: now))
            XCTAssertEqual(j["msgtype"] as? String, "text")
            XCTAssertEqual((j["text"] as? [String: Any])?["content"] as? String, slack["text"] as? String)
        }
        let g = try json(WebhookPayload.body(n, format: .generic, nowMillis: now))
        XCTAssertEqual(g["event"] as? String, "cooling")
        XCTAssertEqual(g["channel_id"] as? Int, 3)
        XCTAssertEqual(g["until_ms"] as? Int, 61_000)
        XCTAssertEqual(g["time_ms"] as? Int, 1_000)
        let cap = try json(WebhookPayload.body(.costCap(tokenID: 9, token: "team", period: "day", capMicroUSD: 12_500_000),
                                               format: .generic, nowMillis: now))
        XCTAssertEqual(cap["event"] as? String, "cost_cap")
        XCTAssertEqual(cap["cap_usd"] as? Double, 12.5)
        XCTAssertEqual(cap["period"] as? String, "day")
        for other in [Notice.recovered(channelID: 1, channel: "a"), .needsSignIn(channelID: 1, channel: "a", reason: "revoked"),
                      .refreshFailed(channelID: 1, channel: "a", reason: "timeout", retryInMillis: 30_000)] {
            for f in WebhookFormat.allCases { XCTAssertNoThrow(try json(WebhookPayload.body(other, format: f, nowMillis: now))) }
        }
        XCTAssertEqual(WebhookPayload.usd(1), "0.000001")
        XCTAssertEqual(WebhookPayload.usd(Int64.min).first, "-")
    }

    func testTheQueueIsBoundedAndDropsAreCounted() throws {
        // A loop that never runs: nothing is sent, so every post waits in the queue.
        let loop = Loop(index: 0)
        let hooks = try WebhookList.parse("http://127.0.0.1:9/a,slack=http://127.0.0.1:9/b").get()
        let d = NoticeDispatcher(loop: loop, pool: UpstreamPool(loop: loop, settings: .init()), capacity: 3) { hooks }
        Notices.install(d)
        for i in 0..<10 { Notices.post(.recovered(channelID: i, channel: "c")) }
        XCTAssertEqual(d.counts.queued, 6, "3 per webhook")
        XCTAssertEqual(d.counts.dropped, 14, "7 per webhook")
        XCTAssertEqual(Notices.dispatcher?.counts.dropped, 14)
    }

    func testCoolingAndRecoveryAreTransitions() {
        let book = CooldownBook()
        let t0: UInt64 = 1_000 * nanosPerSecond
        let scope = CooldownScope.model(channelID: 1, model: "m")
        XCTAssertTrue(book.recordChange(failure: .server, scope: scope, now: t0).started)
        XCTAssertFalse(book.recordChange(failure: .server, scope: scope, now: t0 + 1).started, "still cooling: no new start")
        XCTAssertTrue(book.recordSuccess(channelID: 1, keyIndex: 0, model: "m"))
        XCTAssertFalse(book.recordSuccess(channelID: 1, keyIndex: 0, model: "m"), "nothing left to recover")
        // Past its end a new failure is a new start.
        let until = book.recordChange(failure: .server, scope: scope, now: t0).until
        XCTAssertTrue(book.recordChange(failure: .server, scope: scope, now: until).started)
    }

    func testAProbeFailureExtendsAndTheOutageNamesWhatCools() throws {
        let book = CooldownBook()
        let t0: UInt64 = 1_000 * nanosPerSecond
        let c = Channel(id: 4, name: "c", kind: .anthropic, urls: ["http://a"], keys: [ChannelKey(index: 0, secret: "k"), ChannelKey(index: 1, secret: "l")])
        XCTAssertNil(book.outage(channel: c, now: t0))
        let first = book.record(failure: .server, scope: .model(channelID: 4, model: "m"), now: t0)
        let o = try XCTUnwrap(book.outage(channel: c, now: t0))
        XCTAssertEqual(o.scope, .model(channelID: 4, model: "m"))
        XCTAssertEqual(o.until, first)
        // Probed shortly before the end and failing: the next (doubled) duration from now.
        let probeAt = first - nanosPerSecond
        let extended = book.extend(failure: .server, scope: o.scope, now: probeAt)
        XCTAssertEqual(extended, probeAt + 2 * CooldownSettings().serverNanos)
        // One key cooling is no outage; both are; the channel's own wins.
        book.record(failure: .auth, scope: .key(channelID: 4, keyIndex: 0), now: t0)
        XCTAssertEqual(book.outage(channel: c, now: t0)?.scope, .model(channelID: 4, model: "m"))
        book.record(failure: .auth, scope: .key(channelID: 4, keyIndex: 1), now: t0 + 1)
        XCTAssertEqual(book.outage(channel: c, now: t0 + 2)?.scope, .key(channelID: 4, keyIndex: 0))
        book.record(failure: .connection, scope: .channel(4), now: t0 + 2)
        XCTAssertEqual(book.outage(channel: c, now: t0 + 3)?.scope, .channel(4))
    }

    func testACostCapIsPostedOncePerCapPerPeriod() {
        let got = Lock<[Notice]>([])
        Notices.install { n in got.withLock { $0.append(n) } }
        let day0: UInt64 = 86_400_000 * 20_000 + 1000
        let meters = TokenMeters()
        var t = ClientToken(id: 7, name: "team", digest: TokenDigest(of: Array("s".utf8)))
        t.dailyCostCapMicroUSD = 1000
        XCTAssertNil(meters.admit(t, model: "m", reserveMicroUSD: 2000, nowMillis: day0))
        // Refused while only the reservation reaches the cap: not reached yet, nothing posted.
        XCTAssertNotNil(meters.admit(t, model: "m", nowMillis: day0))
        XCTAssertTrue(got.withLock { $0 }.isEmpty)
        meters.finish(tokenID: 7, costMicroUSD: 1500, reservedMicroUSD: 2000, nowMillis: day0)
        for _ in 0..<5 { XCTAssertEqual(meters.admit(t, model: "m", nowMillis: day0)?.status, 429) }
        XCTAssertEqual(got.withLock { $0 }, [.costCap(tokenID: 7, token: "team", period: "day", capMicroUSD: 1000)])
        // The next day counts again; reaching it again posts again.
        let day1 = day0 + 86_400_000
        XCTAssertNil(meters.admit(t, model: "m", nowMillis: day1))
        meters.finish(tokenID: 7, costMicroUSD: 1000, nowMillis: day1)
        XCTAssertNotNil(meters.admit(t, model: "m", nowMillis: day1))
        XCTAssertNotNil(meters.admit(t, model: "m", nowMillis: day1))
        XCTAssertEqual(got.withLock { $0 }.count, 2)
    }
}
