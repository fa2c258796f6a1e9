import Reactor

/// A notice as the JSON body a receiver of one `WebhookFormat` takes. Built from the
/// notice's own fields only (names, ids, classes, times): a notice carries no secret, and
/// nothing else goes in.
public enum WebhookPayload {
    /// The event's name in the generic format (`event`).
    public static func event(_ n: Notice) -> String {
        switch n {
        case .cooling: return "cooling"
        case .recovered: return "recovered"
        case .needsSignIn: return "needs_sign_in"
        case .refreshFailed: return "refresh_failed"
        case .costCap: return "cost_cap"
        }
    }

    /// One line for a person (the chat formats' whole message), starting `ccload:` (a word a
    /// DingTalk robot's keyword check can require).
    public static func text(_ n: Notice, nowMillis: UInt64) -> String {
        switch n {
        case .cooling(let id, let name, let scope, let until, let reason):
            let seconds = until > nowMillis ? (until - nowMillis + 999) / 1000 : 0
            return "ccload: channel \(name) (id \(id)) is cooling (\(scope), \(reason)) for \(seconds) s"
        case .recovered(let id, let name):
            return "ccload: channel \(name) (id \(id)) recovered"
        case .needsSignIn(let id, let name, let reason):
            return "ccload: account \(name) (channel \(id)) needs sign-in: \(reason)"
        case .refreshFailed(let id, let name, let reason, let retry):
            return "ccload: account \(name) (channel \(id)) refresh failed: \(reason); retrying in \((retry + 999) / 1000) s"
        case .costCap(let id, let name, let period, let cap):
            return "ccload: token \(name) (id \(id)) reached its \(period) cost cap of \(usd(cap)) USD"
        }
    }

    /// The body for `format`.
    public static func body(_ n: Notice, format: WebhookFormat, nowMillis: UInt64) -> [UInt8] {
        let text = text(n, nowMillis: nowMillis)
        var out: [UInt8] = []
        switch format {
        case .slack:
            out += #"{"text":"#.utf8
            string(&out, text)
            out += "}".utf8
        case .feishu:
            out += #"{"msg_type":"text","content":{"text":"#.utf8
            string(&out, text)
            out += "}}".utf8
        case .dingtalk, .wecom:
            out += #"{"msgtype":"text","text":{"content":"#.utf8
            string(&out, text)
            out += "}}".utf8
        case .generic:
            out += #"{"event":"#.utf8
            string(&out, event(n))
            out += #","text":"#.utf8
            string(&out, text)
            out += #","time_ms":\#(nowMillis)"#.utf8
            switch n {
            case .cooling(let id, let name, let scope, let until, let reason):
                channel(&out, id, name)
                field(&out, "scope", scope)
                out += #","until_ms":\#(until)"#.utf8
                field(&out, "reason", reason)
            case .recovered(let id, let name):
                channel(&out, id, name)
            case .needsSignIn(let id, let name, let reason):
                channel(&out, id, name)
                field(&out, "reason", reason)
            case .refreshFailed(let id, let name, let reason, let retry):
                channel(&out, id, name)
                field(&out, "reason", reason)
                out += #","retry_in_ms":\#(retry)"#.utf8
            case .costCap(let id, let name, let period, let cap):
                out += #","token_id":\#(id)"#.utf8
                field(&out, "token", name)
                field(&out, "period", period)
                out += #","cap_usd":\#(usd(cap))"#.utf8
            }
            out += "}".utf8
        }
        return out
    }

    /// A sample notice for a webhook's test button.
    public static let sample = Notice.recovered(channelID: 0, channel: "ccload-webhook-test")

    private static func channel(_ out: inout [UInt8], _ id: Int, _ name: String) {
        out += #","channel_id":\#(id)"#.utf8
        field(&out, "channel", name)
    }

    private static func field(_ out: inout [UInt8], _ key: StaticString, _ value: String) {
        out += ",\"".utf8
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out += "\":".utf8
        string(&out, value)
    }

    private static func string(_ out: inout [UInt8], _ s: String) {
        out.append(0x22)
        JSONString.appendEscaped(&out, s)
        out.append(0x22)
    }

    /// Micro-USD as a decimal number of dollars (`12.5`, `0.000001`).
    static func usd(_ micro: Int64) -> String {
        let negative = micro < 0
        let m = micro.magnitude
        var frac = String(m % 1_000_000)
        frac = String(repeating: "0", count: 6 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return (negative ? "-" : "") + String(m / 1_000_000) + (frac.isEmpty ? "" : "." + frac)
    }
}
