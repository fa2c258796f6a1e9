/// One `instance` body: a heartbeat, or a part of the requests an instance has in flight.
///
/// `F1 <seq> <start> <address> <active> <streams> <version>`: sent every second; `seq`
/// counts the heartbeats, `start` is when the instance started (wall-clock ms), `address`
/// its listening `host:port` (`-`: not known), `active` and `streams` the requests and
/// streams in flight, `version` ccload's version (`-`: none given). Text is percent-encoded
/// (`ClusterText.escape`).
///
/// `A1 <seq> <entry> ...`: requests in flight that go with heartbeat `seq` (newest first;
/// at most `maxRequests` in all, split over bodies of at most `maxBodyBytes`). An entry is
/// `<id>,<token|->,<channel|->,<stream 0|1>,<elapsedMs>,<bytes>,<model>,<channelName>,<protocol>,<client>`,
/// the texts percent-encoded (an empty channel name: none).
enum FleetMessage: Sendable, Equatable {
    case heartbeat(Heartbeat)
    case requests(seq: UInt64, [Request])

    struct Heartbeat: Sendable, Equatable {
        var seq: UInt64
        var startMillis: UInt64
        var address: String?
        var activeRequests: Int
        var streams: Int
        var version: String
    }

    struct Request: Sendable, Equatable {
        var id: UInt64
        var tokenID: Int?
        var channelID: Int?
        var stream: Bool
        var elapsedMillis: UInt64
        var bytesStreamed: UInt64
        var model: String
        var channelName: String?
        var protocolName: String
        var client: String
    }

    static let maxRequests = 50
    static let maxBodyBytes = 1_800
    static let maxText = 96

    func encoded() -> [String] {
        switch self {
        case .heartbeat(let h):
            return ["F1 \(h.seq) \(h.startMillis) \(h.address.map { ClusterText.escape($0, limit: Self.maxText) } ?? "-") "
                    + "\(h.activeRequests) \(h.streams) \(ClusterText.escape(h.version.isEmpty ? "-" : h.version, limit: 32))"]
        case .requests(let seq, let list):
            let head = "A1 \(seq)"
            var out: [String] = []
            var body = head
            for r in list.prefix(Self.maxRequests) {
                let e = " \(r.id),\(r.tokenID.map(String.init) ?? "-"),\(r.channelID.map(String.init) ?? "-"),\(r.stream ? 1 : 0),"
                    + "\(min(r.elapsedMillis, ClusterText.maxNumber)),\(min(r.bytesStreamed, ClusterText.maxNumber)),"
                    + "\(ClusterText.escape(r.model, limit: Self.maxText)),\(ClusterText.escape(r.channelName ?? "", limit: Self.maxText)),"
                    + "\(ClusterText.escape(r.protocolName, limit: 32)),\(ClusterText.escape(r.client, limit: 64))"
                if body.utf8.count > head.utf8.count && body.utf8.count + e.utf8.count > Self.maxBodyBytes {
                    out.append(body)
                    body = head
                }
                body += e
            }
            if body.utf8.count > head.utf8.count { out.append(body) }
            return out
        }
    }

    static func parse(_ body: Substring) -> FleetMessage? {
        guard body.utf8.count <= 16 * 1024, let f = ClusterText.fields(body.utf8), f.count >= 2,
              let seq = ClusterText.number(f[1]) else { return nil }
        if f[0].elementsEqual("F1".utf8) {
            guard f.count == 7, let start = ClusterText.number(f[2]),
                  let active = ClusterText.int(f[4], max: LimitBatch.maxCount), let streams = ClusterText.int(f[5], max: LimitBatch.maxCount),
                  let version = ClusterText.unescape(f[6], limit: 32) else { return nil }
            let address: String?
            if f[3].elementsEqual("-".utf8) { address = nil } else {
                guard let a = ClusterText.unescape(f[3], limit: maxText) else { return nil }
                address = a
            }
            return .heartbeat(Heartbeat(seq: seq, startMillis: start, address: address, activeRequests: active, streams: streams,
                                        version: version == "-" ? "" : version))
        }
        guard f[0].elementsEqual("A1".utf8), f.count >= 3, f.count - 2 <= maxRequests else { return nil }
        var list: [Request] = []
        for entry in f[2...] {
            guard let v = entryFields(entry),
                  let id = ClusterText.number(v[0]), let token = optionalInt(v[1]), let channel = optionalInt(v[2]),
                  v[3].count == 1, v[3].first == 0x30 || v[3].first == 0x31,
                  let elapsed = ClusterText.number(v[4]), let bytes = ClusterText.number(v[5]),
                  let model = ClusterText.unescape(v[6], limit: maxText), let name = ClusterText.unescape(v[7], limit: maxText),
                  let proto = ClusterText.unescape(v[8], limit: 32), let client = ClusterText.unescape(v[9], limit: 64)
            else { return nil }
            list.append(Request(id: id, tokenID: token, channelID: channel, stream: v[3].first == 0x31,
                                elapsedMillis: elapsed, bytesStreamed: bytes, model: model, channelName: name.isEmpty ? nil : name,
                                protocolName: proto, client: client))
        }
        return .requests(seq: seq, list)
    }

    /// An entry's ten fields (a text may be empty, a number may not).
    private static func entryFields(_ entry: Substring.UTF8View) -> [Substring.UTF8View]? {
        let v = entry.split(separator: 0x2C, omittingEmptySubsequences: false)
        return v.count == 10 && !v[0..<6].contains(where: { $0.isEmpty }) ? v : nil
    }

    /// A number or `-` (`.some(nil)`: none); nil: malformed.
    private static func optionalInt(_ field: Substring.UTF8View) -> Int?? {
        if field.elementsEqual("-".utf8) { return .some(nil) }
        guard let v = ClusterText.int(field, max: Int(Int32.max)) else { return nil }
        return .some(v)
    }
}
