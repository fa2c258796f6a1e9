/// One `limits` body: an instance's own figures for some tokens, in the periods of the
/// moment it was sent.
///
/// `L1 <start> <minute> <day> <kind> [<token>:<requests>:<inFlight>:<reserved>:<today>:<week>:<month>:<total> ...]`
///
/// `start` is when the sender started (wall-clock ms), `minute` the wall-clock minute
/// (ms / 60 000) its requests count in, `day` its local day number (`LocalCalendar.day`),
/// whose week and month the week and month figures are of. Spend is the sender's own,
/// cumulative in each period since it started (micro-USD), so a lost body costs nothing
/// once the next arrives. No records: a heartbeat (the sender lives). At most
/// `maxRecords` records, each token once; every number at most `ClusterText.maxNumber`.
/// `kind`: `u` an update (the tokens whose figures changed), `d` part of a dump (every
/// token, asked for by a peer's `R1 <seedMillis>` after it read the store), `D` a dump's
/// last part.
struct LimitBatch: Sendable, Equatable {
    enum Kind: UInt8, Sendable {
        case update = 0x75  // u
        case dump = 0x64  // d
        case dumpEnd = 0x44  // D
    }

    struct Record: Sendable, Equatable {
        var tokenID: Int
        var figures: LocalFigures
    }

    var startMillis: UInt64
    var minute: UInt64
    var day: UInt64
    var kind: Kind = .update
    var records: [Record]

    static let maxRecords = 256
    /// The longest body `bodies` makes (well under a `NOTIFY` payload).
    static let maxBodyBytes = 1_800
    /// Requests and in-flight figures above this are absurd.
    static let maxCount = 1_000_000_000

    /// The body of this batch (records as given: `bodies` keeps it short).
    func encoded() -> String {
        var s = "L1 \(startMillis) \(minute) \(day) \(Character(Unicode.Scalar(kind.rawValue)))"
        for r in records {
            let f = r.figures
            s += " \(r.tokenID):\(f.requests):\(f.inFlight):\(f.reserved):\(f.today):\(f.thisWeek):\(f.thisMonth):\(f.total)"
        }
        return s
    }

    /// Bodies of at most `maxBodyBytes` (and `maxRecords` records) holding `records`; one
    /// heartbeat body when there are none. Negative figures go out as 0, larger than the
    /// wire takes as its largest. A dump's bodies are `d` but the last, `D`.
    static func bodies(startMillis: UInt64, minute: UInt64, day: UInt64, records: [Record], kind: Kind = .update) -> [String] {
        let plain = "L1 \(startMillis) \(minute) \(day) "
        let head = plain + (kind == .update ? "u" : "d")
        func finish(_ out: [String]) -> [String] {
            guard kind != .update, let last = out.last else { return out }
            // The head is ASCII: its last character is the kind.
            return out.dropLast() + [plain + "D" + last.dropFirst(plain.count + 1)]
        }
        if records.isEmpty { return finish([head]) }
        var out: [String] = []
        var body = head
        var n = 0
        func clamp(_ v: Int64) -> Int64 { min(max(0, v), Int64(ClusterText.maxNumber)) }
        func clamp(_ v: Int) -> Int { min(max(0, v), maxCount) }
        for r in records where r.tokenID >= 0 && r.tokenID <= Int(Int32.max) {
            let f = r.figures
            let rec = " \(r.tokenID):\(clamp(f.requests)):\(clamp(f.inFlight)):\(clamp(f.reserved)):\(clamp(f.today)):\(clamp(f.thisWeek)):\(clamp(f.thisMonth)):\(clamp(f.total))"
            if n > 0 && (n == maxRecords || body.utf8.count + rec.utf8.count > maxBodyBytes) {
                out.append(body)
                body = head
                n = 0
            }
            body += rec
            n += 1
        }
        out.append(body)
        return finish(out)
    }

    /// The batch `body` holds, or nil when it is not exactly that shape.
    static func parse(_ body: Substring) -> LimitBatch? {
        guard body.utf8.count <= 64 * 1024, let f = ClusterText.fields(body.utf8), f.count >= 5, f.count - 5 <= maxRecords,
              f[0].elementsEqual("L1".utf8),
              let start = ClusterText.number(f[1]), let minute = ClusterText.number(f[2]), let day = ClusterText.number(f[3]),
              f[4].count == 1, let kind = Kind(rawValue: f[4].first!)
        else { return nil }
        var records: [Record] = []
        records.reserveCapacity(f.count - 5)
        var seen = Set<Int>()
        for rec in f[5...] {
            guard let v = ClusterText.fields(rec[...], separator: 0x3A), v.count == 8,
                  let id = ClusterText.int(v[0], max: Int(Int32.max)), seen.insert(id).inserted,
                  let requests = ClusterText.int(v[1], max: maxCount), let inFlight = ClusterText.int(v[2], max: maxCount),
                  let reserved = ClusterText.number(v[3]), let today = ClusterText.number(v[4]),
                  let week = ClusterText.number(v[5]), let month = ClusterText.number(v[6]), let total = ClusterText.number(v[7])
            else { return nil }
            records.append(Record(tokenID: id, figures: LocalFigures(
                requests: requests, inFlight: inFlight, reserved: Int64(reserved), today: Int64(today),
                thisWeek: Int64(week), thisMonth: Int64(month), total: Int64(total))))
        }
        return LimitBatch(startMillis: start, minute: minute, day: day, kind: kind, records: records)
    }
}
