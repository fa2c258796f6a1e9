import Reactor
import TLS

/// What one check of a channel found (`ChannelCheck.run`): the admin's test button answers
/// it, a scheduled health probe keeps it for the channel list. `error` never holds a key of
/// the channel or its proxy's password.
public struct ChannelCheckResult: Sendable, Equatable {
    public var ok: Bool
    public var status: Int?
    public var ttfbMs: UInt64?
    public var durationMs: UInt64
    public var model: String
    public var error: String?
    /// How a failure cools the channel, as the relay would class it; nil when ok.
    public var failure: FailureClass?
    /// Wall-clock milliseconds when the check ended.
    public var atMillis: UInt64
}

/// One minimal request through a channel (a base URL, a key, a model): the protocol's
/// cheapest call with the channel's credential, sent with `HTTPExchange` on the caller's
/// loop. Records no cooldown and no request log itself: the caller decides what the result
/// means (the test button only shows it; the probe scheduler clears or extends cooldowns).
public enum ChannelCheck {
    /// Upstream body bytes kept to explain a failure.
    public static let maxKeptBody = 16 * 1024

    /// The model a check asks for when none is named: the channel's first model, else its
    /// first redirected name, else the protocol's cheap default.
    public static func defaultModel(_ c: Channel) -> String {
        c.models.first ?? c.redirects.keys.sorted().first ?? c.kind.wire.probeModel
    }

    /// The request head (with the blank line) and body: the protocol's cheapest call (one
    /// output token, or the least the endpoint takes), with the channel's credential (an
    /// account channel's `account`: its OAuth fields and beta flag instead of the key).
    public static func request(_ c: Channel, model: String, key: [UInt8], target: UpstreamTarget,
                               account: AccountCredentials.Entry? = nil) -> (head: [UInt8], body: [UInt8]) {
        let probe = c.kind.wire.probeRequest(model: model, basePath: target.pathPrefix[...])
        let path = ProtocolRules.upstreamTarget(route: APIRoute(kind: c.kind, endpoint: probe.endpoint),
                                                clientTarget: probe.clientPath[...], basePath: target.pathPrefix[...])
        var out: [UInt8] = []
        HTTP1Writer.appendRequestLine(&out, method: "POST", target: path[...])
        HTTP1Writer.appendHeader(&out, name: "Host", value: target.hostHeader[...])
        HTTP1Writer.appendHeader(&out, name: "Content-Type", value: "application/json")
        HTTP1Writer.appendHeader(&out, name: "User-Agent", value: "ccload-channel-test")
        for h in probe.headers { HTTP1Writer.appendHeader(&out, name: h.name, value: h.value) }
        if let account {
            out.append(contentsOf: account.fields)
            if let beta = account.beta { HeaderRewriter.appendMergedBeta(&out, beta, []) }
        } else {
            ProtocolRules.appendCredential(&out, kind: c.kind, key: key)
        }
        HTTP1Writer.appendHeader(&out, name: "Content-Length", value: probe.body.count)
        HTTP1Writer.appendEndOfHead(&out)
        return (out, probe.body)
    }

    /// Checks `c` at `target` with key `keyIndex` for `model` (the name a client asks for;
    /// its redirect is what goes upstream), with `account`'s credential for an account channel.
    /// `completion` runs once on `pool`'s loop.
    @discardableResult
    public static func run(_ c: Channel, keyIndex: Int, model: String, target: UpstreamTarget, pool: UpstreamPool,
                           account: AccountCredentials.Entry? = nil,
                           timeoutNanos: UInt64, completion: @escaping (ChannelCheckResult) -> Void) -> HTTPExchange {
        let r = request(c, model: c.upstreamModel(for: model), key: c.keys[keyIndex].secretBytes, target: target, account: account)
        return HTTPExchange.start(pool: pool, target: target, head: r.head, body: r.body, timeoutNanos: timeoutNanos,
                                  maxKeptBody: maxKeptBody) { o in
            completion(result(o, channel: c, model: model))
        }
    }

    /// What an exchange's outcome says about the channel.
    static func result(_ o: HTTPExchange.Outcome, channel c: Channel, model: String) -> ChannelCheckResult {
        var error: String?
        var failure: FailureClass?
        if let f = o.failure {
            error = "upstream " + f
            failure = f.hasPrefix("sent no response headers") ? .timeout : .connection
        } else if let status = o.status {
            let bodyError = ProtocolRules.bodyError(c.kind, o.body)
            if status >= 200 && status < 300 {
                if let e = bodyError {
                    error = "\(e.type): \(e.message)"
                    failure = .server
                }
            } else {
                if let e = bodyError {
                    error = "HTTP \(status): \(e.type): \(e.message)"
                } else {
                    let text = trimmed(String(decoding: o.body.prefix(300), as: UTF8.self))
                    error = "HTTP \(status)" + (text.isEmpty ? "" : ": \(text)")
                }
                switch status {
                case 401, 402, 403: failure = .auth
                case 404: failure = .notFound
                case 429: failure = .rateLimit
                default: failure = .server
                }
            }
        }
        return ChannelCheckResult(ok: error == nil, status: o.status, ttfbMs: o.ttfbNanos.map { $0 / 1_000_000 },
                                  durationMs: o.durationNanos / 1_000_000, model: model, error: error.map { scrub($0, c) },
                                  failure: failure, atMillis: wallClockMillis())
    }

    /// `text` with every key of the channel (and its proxy's password) masked.
    public static func scrub(_ text: String, _ c: Channel) -> String {
        var t = text
        for k in c.keys where !k.secret.isEmpty { t = t.replacing(k.secret, with: k.masked) }
        if let p = c.proxy, let e = EgressProxy(url: p), let pw = e.password, !pw.isEmpty {
            t = t.replacing(pw, with: "****")
        }
        return t
    }

    private static func trimmed(_ s: String) -> String {
        var sub = Substring(s)
        while let f = sub.first, f.isWhitespace { sub.removeFirst() }
        while let l = sub.last, l.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
