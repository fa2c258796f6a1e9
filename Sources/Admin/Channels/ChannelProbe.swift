import Foundation
import Proxy
import Reactor
import TLS

/// `POST /admin/channels/{id}/test`: one minimal request through a channel (its first
/// URL, the key asked for or the first), sent from this loop with its upstream pool's
/// dialer under the channel's first-byte timeout (`ChannelCheck`, which the scheduled
/// health probes share), and answered as `{ok, status, ttfb_ms, duration_ms, model, error}`.
/// It records no cooldown and no request log: it is a look, not traffic. The error text
/// never holds a key (any key of the channel is masked in it).
enum ChannelProbe {
    struct Input: Decodable {
        let model: String?
        let keyIndex: Int?
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
            let model = input.model ?? ChannelCheck.defaultModel(c)
            let timeout = c.firstByteTimeoutSeconds.map(RuntimeSettings.firstByteTimeoutNanos(seconds:)) ?? call.proxy.config.firstByteTimeoutNanos
            ChannelCheck.run(c, keyIndex: keyIndex, model: model, target: table.targets[index][0], pool: call.proxy.pool,
                             account: c.account == nil ? nil : call.proxy.accounts[c.id],
                             timeoutNanos: timeout) { result in
                call.json(ChannelCheckView(result, withTime: false))
            }
        } catch {
            call.fail(error)
        }
    }
}
