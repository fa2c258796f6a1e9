// ccload-routing-bench: time one routing decision (Selector.select) over a large table.
// Prints the median of several rounds in nanoseconds per decision for each shape.
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
    let selector = Selector()
    let session: SessionKey? = shape.withSession ? SessionKey("user-123") : nil
    var out: [Candidate] = []
    let model = "model-0"
    let iterations = 200_000
    var rounds: [Double] = []
    var sink = 0
    for _ in 0..<7 {
        let t0 = monotonicNanos()
        for _ in 0..<iterations {
            _ = selector.select(table: table, kind: .anthropic, model: model, session: session,
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
    Shape(name: "1,000 channels, 10 priorities, 50 models, 40% cooling", channels: 1000, priorities: 10, models: 50, coolingShare: 0.4, withSession: false),
    Shape(name: "1,000 channels, 1 priority, any model", channels: 1000, priorities: 1, models: 1, coolingShare: 0, withSession: false),
]
print("| table | ns per routing decision (median of 7 rounds × 200,000) |")
print("|---|---:|")
for s in shapes {
    print("| \(s.name) | \(Int(run(s).rounded())) |")
}
