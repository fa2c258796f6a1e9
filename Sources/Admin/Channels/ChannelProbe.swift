import Foundation
import Proxy
import Reactor
import TLS

/// `POST /admin/channels/{id}/test`: one minimal request through a channel (its first
/// URL, the key asked for or the first), sent from this loop with its upstream pool's
/// dialer under the channel's first-byte timeout, and answered as `{ok, status, ttfb_ms,
/// duration_ms, model, error}`. It records no cooldown and no request log: it is a look,
/// not traffic. The error text never holds a key (any key of the channel is masked in
/// it). Owner: the loop that read the admin request; it keeps itself alive until it has
/// answered.
final class ChannelProbe: HTTPClientDelegate, TimerTarget, @unchecked Sendable {
    struct Input: Decodable {
        let model: String?
        let keyIndex: Int?
    }

    struct Outcome: Encodable {
        let ok: Bool
        let status: Int?
        let ttfbMs: UInt64?
        let durationMs: UInt64
        let model: String
        let error: String?

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ok, forKey: .ok)
            try c.encode(status, forKey: .status)
            try c.encode(ttfbMs, forKey: .ttfbMs)
            try c.encode(durationMs, forKey: .durationMs)
            try c.encode(model, forKey: .model)
            try c.encodeIfPresent(error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey { case ok, status, ttfbMs, durationMs, model, error }
    }

    /// Upstream body bytes kept to explain a failure.
    static let maxKeptBody = 16 * 1024

    private let call: AdminCall
    private let channel: Channel
    private let target: UpstreamTarget
    private let model: String
    private let request: [UInt8]
    private let timeoutNanos: UInt64
    private let started: UInt64
    private var self_: ChannelProbe?
    private var dial: Dial?
    private var upstream: HTTPClientConnection?
    private var head: HTTPResponseHead?
    private var ttfb: UInt64?
    private var body: [UInt8] = []
    private lazy var timer = LoopTimer(target: self)

    private init(call: AdminCall, channel: Channel, target: UpstreamTarget, model: String, request: [UInt8], timeoutNanos: UInt64) {
        self.call = call
        self.channel = channel
        self.target = target
        self.model = model
        self.request = request
        self.timeoutNanos = timeoutNanos
        started = call.loop.now
    }

    static func handle(_ call: AdminCall) {
        call.loop.assertOnLoop()
        do throws(AdminError) {
            let id = try call.id()
            let input = call.body.isEmpty ? Input(model: nil, keyIndex: nil) : try call.decode(Input.self)
            guard let table = call.control.live.table, let index = table.index(ofChannelID: id) else {
                throw AdminError.notFound("channel \(id) does not exist")
            }
            let c = table.channels[index]
            let keyIndex = input.keyIndex ?? 0
            guard c.keys.indices.contains(keyIndex) else {
                throw AdminError.invalid("key_index", "key_index must be between 0 and \(c.keys.count - 1)")
            }
            if let m = input.model, let why = ChannelFieldRules.model(m, kind: c.kind) {
                throw AdminError.invalid("model", "model \(why)")
            }
            let model = input.model ?? c.models.first ?? c.redirects.keys.sorted().first ?? defaultModel(c.kind)
            let target = table.targets[index][0]
            let request = minimalRequest(c, model: c.upstreamModel(for: model), key: c.keys[keyIndex].secret, target: target,
                                         account: c.account == nil ? nil : call.proxy.accounts[c.id])
            let timeout = c.firstByteTimeoutSeconds.map(RuntimeSettings.firstByteTimeoutNanos(seconds:)) ?? call.proxy.config.firstByteTimeoutNanos
            let probe = ChannelProbe(call: call, channel: c, target: target, model: model, request: request, timeoutNanos: timeout)
            probe.start()
        } catch {
            call.fail(error)
        }
    }

    static func defaultModel(_ kind: ProtocolKind) -> String { kind.wire.probeModel }

    /// The request head and body: the protocol's cheapest call (one output token, or the
    /// least the endpoint takes), with the channel's credential.
    /// An account channel (`account`) sends its OAuth credential instead of the key.
    static func minimalRequest(_ c: Channel, model: String, key: String, target: UpstreamTarget,
                               account: AccountCredentials.Entry? = nil) -> [UInt8] {
        let probe = c.kind.wire.probeRequest(model: model, basePath: target.pathPrefix[...])
        let json = probe.body
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
            ProtocolRules.appendCredential(&out, kind: c.kind, key: Array(key.utf8))
        }
        HTTP1Writer.appendHeader(&out, name: "Content-Length", value: json.count)
        HTTP1Writer.appendEndOfHead(&out)
        return out + json
    }

    // MARK: the exchange

    private func start() {
        self_ = self
        dial = call.proxy.pool.dial(target) { [self] result in
            dial = nil
            guard self_ != nil else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c):
                upstream = c
                call.loop.arm(timer, afterNanos: timeoutNanos)
                let split = request.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A])!.upperBound
                c.send(head: Array(request[..<split]), body: Array(request[split...]), isHEAD: false, delegate: self)
            case .failure(let e):
                finish(error: "upstream unreachable: \(e)")
            }
        }
    }

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        call.loop.assertOnLoop()
        self.head = head
        ttfb = call.loop.now - started
        // The body gets as long again.
        call.loop.disarm(timer)
        call.loop.arm(timer, afterNanos: timeoutNanos)
    }

    func responseRaw(_ raw: UnsafeRawBufferPointer) {}

    func responseData(_ data: UnsafeRawBufferPointer) {
        call.loop.assertOnLoop()
        let room = Self.maxKeptBody - body.count
        if room > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room))) }
    }

    func responseEnd() {
        call.loop.assertOnLoop()
        if let c = upstream, c.state == .idle { call.proxy.pool.release(c, target) }
        upstream = nil
        guard let head else { return finish(error: "the upstream closed without a response") }
        if head.status >= 200 && head.status < 300 {
            if let e = ProtocolRules.bodyError(channel.kind, body) { return finish(error: "\(e.type): \(e.message)") }
            return finish(error: nil)
        }
        if let e = ProtocolRules.bodyError(channel.kind, body) { return finish(error: "HTTP \(head.status): \(e.type): \(e.message)") }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        finish(error: "HTTP \(head.status)" + (text.isEmpty ? "" : ": \(text)"))
    }

    func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        call.loop.assertOnLoop()
        upstream = nil
        finish(error: head == nil ? "upstream failed: \(error)" : "upstream failed mid-response: \(error)")
    }

    func timerFired(_ timer: LoopTimer) {
        call.loop.assertOnLoop()
        upstream?.close()
        upstream = nil
        let seconds = formatSeconds(timeoutNanos)
        finish(error: head == nil ? "upstream sent no response headers within \(seconds)" : "the response did not end within \(seconds)")
    }

    private func finish(error: String?) {
        guard self_ != nil else { return }
        self_ = nil
        call.loop.disarm(timer)
        dial?.cancel()
        dial = nil
        upstream?.close()
        upstream = nil
        let status = head?.status
        call.json(Outcome(ok: error == nil, status: status, ttfbMs: ttfb.map { $0 / 1_000_000 },
                          durationMs: (call.loop.now - started) / 1_000_000, model: model, error: error.map(scrub)))
    }

    /// `text` with every key of the channel (and the proxy's password) masked.
    private func scrub(_ text: String) -> String {
        var t = text
        for k in channel.keys where !k.secret.isEmpty { t = t.replacingOccurrences(of: k.secret, with: k.masked) }
        if let p = channel.proxy, let e = EgressProxy(url: p), let pw = e.password, !pw.isEmpty {
            t = t.replacingOccurrences(of: pw, with: "****")
        }
        return t
    }
}
