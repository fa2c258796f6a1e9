// ccload-routing-bench: time one routing decision (Selector.select) over a large table.
// Prints the median of several rounds in nanoseconds per decision for each shape
// (`ccload-routing-bench [WORD | -WORD]`: only the shapes naming WORD, or all but those).
import Glibc
import Proxy
import Reactor

struct Shape {
    let name: String
    let channels: Int
    let priorities: Int
    let models: Int
    let coolingShare: Double
    let withSession: Bool
    /// Affinity on with a remembered, warm session: where its channel sits (`top` tier or
    /// `bottom` tier), nil for none; `sessions` entries in the table, looked up in turn.
    var warmIn: String? = nil
    var sessions: Int = 1
}

func makeTable(_ shape: Shape, state: RoutingState) -> ChannelTable {
    var list: [Channel] = []
    for i in 0..<shape.channels {
        var c = Channel(id: i + 1, name: "ch\(i)", kind: .anthropic, urls: ["http://127.0.0.1:\(20000 + i % 1000)"],
                        keys: [ChannelKey(index: 0, secret: "sk-\(i)-a"), ChannelKey(index: 1, secret: "sk-\(i)-b")])
        // Tiers of equal size; each channel serves a fifth of the models, so model-0 is
        // served by every fifth channel of every tier.
        c.priority = i / max(1, shape.channels / shape.priorities)
        c.models = shape.models == 1 ? [] : (0..<shape.models).filter { ($0 + i) % 5 == 0 }.map { "model-\($0)" }
        list.append(c)
    }
    return try! ChannelTable(list, state: state)
}

func run(_ shape: Shape) -> Double {
    let state = RoutingState()
    let table = makeTable(shape, state: state)
    let cooldowns = CooldownBook()
    let now = monotonicNanos()
    var rng = SystemRandomNumberGenerator()
    for c in table.channels where Double.random(in: 0..<1, using: &rng) < shape.coolingShare {
        cooldowns.record(failure: .server, scope: .model(channelID: c.id, model: "model-0"), now: now)
    }
    let affinity = SessionAffinity()
    let selector = Selector(affinity: affinity)
    let session: SessionKey? = shape.withSession ? SessionKey("user-123") : nil
    // Warm sessions on a channel serving the model (model-0: every fifth channel).
    var keys: [SessionKey] = []
    if let place = shape.warmIn {
        let serving = table.channels.filter { $0.models.isEmpty || $0.models.contains("model-0") }
        let top = serving.map(\.priority).max()!, bottom = serving.map(\.priority).min()!
        let pool = serving.filter { $0.priority == (place == "top" ? top : bottom) }
        for i in 0..<shape.sessions {
            let k = SessionKey(hash: UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
            affinity.record(session: k, channel: pool[i % pool.count].id, key: 1, now: now, cacheLifetime: affinityHourNanos)
            keys.append(k)
        }
    }
    var out: [Candidate] = []
    let model = "model-0"
    let iterations = 200_000
    var rounds: [Double] = []
    var sink = 0
    for _ in 0..<7 {
        let t0 = monotonicNanos()
        for i in 0..<iterations {
            _ = selector.select(table: table, kind: .anthropic, model: model, session: keys.isEmpty ? session : keys[i % keys.count],
                                now: now, cooldowns: cooldowns, into: &out)
            sink &+= out.count
        }
        rounds.append(Double(monotonicNanos() - t0) / Double(iterations))
    }
    if sink == 42 { print("") }
    rounds.sort()
    return rounds[rounds.count / 2]
}

let shapes = [
    Shape(name: "3 channels, 1 priority, any model", channels: 3, priorities: 1, models: 1, coolingShare: 0, withSession: false),
    Shape(name: "1,000 channels, 10 priorities, 50 models", channels: 1000, priorities: 10, models: 50, coolingShare: 0, withSession: false),
    Shape(name: "1,000 channels, 10 priorities, 50 models, session", channels: 1000, priorities: 10, models: 50, coolingShare: 0, withSession: true),
    Shape(name: "1,000 channels, 10 priorities, 50 models, warm session, top tier", channels: 1000, priorities: 10, models: 50,
          coolingShare: 0, withSession: true, warmIn: "top"),
    Shape(name: "1,000 channels, 10 priorities, 50 models, warm session, lowest tier", channels: 1000, priorities: 10, models: 50,
          coolingShare: 0, withSession: true, warmIn: "bottom"),
    Shape(name: "1,000 channels, 10 priorities, 50 models, 100,000 warm sessions, top tier", channels: 1000, priorities: 10,
          models: 50, coolingShare: 0, withSession: true, warmIn: "top", sessions: 100_000),
    Shape(name: "3 channels, 1 priority, any model, warm session", channels: 3, priorities: 1, models: 1, coolingShare: 0,
          withSession: true, warmIn: "top"),
    Shape(name: "1,000 channels, 10 priorities, 50 models, 40% cooling", channels: 1000, priorities: 10, models: 50, coolingShare: 0.4, withSession: false),
    Shape(name: "1,000 channels, 1 priority, any model", channels: 1000, priorities: 1, models: 1, coolingShare: 0, withSession: false),
]
print("| table | ns per routing decision (median of 7 rounds × 200,000) |")
print("|---|---:|")
// An argument keeps only the shapes whose name contains it; "-WORD" drops those that do
// (`-warm`: the shapes of issue 4, to compare instruction counts with an older build).
let filter = CommandLine.arguments.dropFirst().first
for s in shapes {
    if let f = filter {
        if f.hasPrefix("-") ? s.name.contains(f.dropFirst()) : !s.name.contains(f) { continue }
    }
    print("| \(s.name) | \(Int(run(s).rounded())) |")
}
