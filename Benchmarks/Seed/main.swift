import Foundation
import Proxy
import Reactor

// ccload-seed: fills a ccload database for benchmarks of the admin side: channels pointing
// at one upstream URL, client tokens, and request records spread over the last N days,
// written through the store's own writer (so the hourly statistics and rollups are what
// a real run would leave).
//
//   ccload-seed --db PATH [--requests 1000000] [--days 30] [--channels 20] [--tokens 10]
//               [--upstream http://127.0.0.1:9] [--token-file PATH]
//
// --token-file receives the first token's secret (the only place it is written).

func argument(_ name: String, _ fallback: String? = nil) -> String? {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--" + name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

guard let path = argument("db") else {
    FileHandle.standardError.write(Data("usage: ccload-seed --db PATH [--requests N] [--days D] [--channels C] [--tokens T] [--upstream URL] [--token-file PATH]\n".utf8))
    exit(2)
}
let requests = Int(argument("requests", "1000000")!)!
let days = Int(argument("days", "30")!)!
let channelCount = Int(argument("channels", "20")!)!
let tokenCount = Int(argument("tokens", "10")!)!
let upstream = argument("upstream", "http://127.0.0.1:9")!

var options = StoreOptions()
options.firstRetentionDelayNanos = 3600 * 1_000_000_000
options.logRetentionDays = max(30, days + 1)
let store = try Store.open(path: path, options: options)
let models = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5", "gpt-5-codex", "gemini-2.5-pro"]
let kinds: [ProtocolKind] = [.anthropic, .anthropic, .anthropic, .openai, .codex, .gemini]

var channelIDs: [Int] = []
for i in 0..<channelCount {
    let k = i % kinds.count
    var c = Channel(id: 0, name: "bench-\(i)", kind: kinds[k], urls: [upstream],
                    keys: (0..<3).map { ChannelKey(index: $0, secret: "sk-bench-\(i)-\($0)-0123456789abcdef") })
    c.priority = i % 3
    c.models = [models[k]]
    channelIDs.append(try store.createChannel(c).id)
}
var tokenIDs: [Int] = []
for i in 0..<tokenCount {
    let t = try store.createToken(AuthToken(name: "bench-token-\(i)"))
    tokenIDs.append(t.token.id)
    if i == 0, let f = argument("token-file") { try t.secret.write(toFile: f, atomically: true, encoding: .utf8) }
}

// A deterministic generator: the same database every run.
struct XorShift {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
var rng = XorShift()


let now = wallClockMillis()
let span = UInt64(days) * 86_400_000
let started = Date()
for i in 0..<requests {
    var r = RequestRecord()
    r.id = UInt64(i + 1)
    // Oldest first, as a live server would write them.
    r.timeMillis = now - span + span * UInt64(i) / UInt64(requests)
    let c = Int(rng.next() % UInt64(channelIDs.count))
    r.channelID = channelIDs[c]
    r.channelName = "bench-\(c)"
    r.keyIndex = Int(rng.next() % 3)
    r.tokenID = tokenIDs[Int(rng.next() % UInt64(tokenIDs.count))]
    let k = c % kinds.count
    r.protocolName = kinds[k].rawValue
    r.path = "/v1/messages"
    r.requestedModel = models[k]
    r.upstreamModel = models[k]
    r.stream = rng.next() % 4 != 0
    let roll = rng.next() % 100
    r.status = roll < 94 ? 200 : roll < 97 ? 429 : roll < 99 ? 502 : 400
    if r.status != 200 { r.error = "upstream answered \(r.status)" }
    r.ttfbMicros = 150_000 + rng.next() % 900_000
    r.durationMicros = r.ttfbMicros! + rng.next() % 20_000_000
    r.inputTokens = Int(rng.next() % 40_000)
    r.outputTokens = Int(rng.next() % 4_000)
    r.cacheReadTokens = Int(rng.next() % 100_000)
    r.cacheWrite5mTokens = Int(rng.next() % 5_000)
    r.usageKnown = r.status == 200
    r.costMicroUSD = Int64(rng.next() % 200_000)
    r.clientAddress = "127.0.0.1"
    r.userAgent = "claude-cli/2.0 (bench)"
    r.attempts = [AttemptNote(channelID: r.channelID!, keyIndex: r.keyIndex!, status: r.status, failure: nil)]
    while !store.writer.enqueue(r) { usleep(2_000) }
}
store.writer.flush()
let w = store.writer.snapshot()
store.close()
let secs = Date().timeIntervalSince(started)
print("seeded \(path): \(channelCount) channels, \(tokenCount) tokens, \(w.written) request records over \(days) days in \(String(format: "%.1f", secs)) s")
