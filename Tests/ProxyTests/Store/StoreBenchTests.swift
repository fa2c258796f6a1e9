import Foundation
import Glibc
import Reactor
import XCTest

@testable import Proxy

/// Figures, not tests: run with CCLOAD_STORE_BENCH=1 (best in release:
/// `swift test -c release -Xswiftc -enable-testing --filter ProxyTests.StoreBench`).
final class StoreBenchTests: XCTestCase {
    var enabled: Bool { ProcessInfo.processInfo.environment["CCLOAD_STORE_BENCH"] == "1" }

    func testWriterThroughput() throws {
        guard enabled else { return }
        let dir = StoreTest.tempDir()
        defer { StoreTest.remove(dir) }
        let store = try Store.open(path: dir + "/ccload.db", options: StoreTest.options())
        defer { store.close() }
        let n = Int(ProcessInfo.processInfo.environment["CCLOAD_STORE_BENCH_N"] ?? "") ?? 1_000_000
        var records: [RequestRecord] = []
        for i in 0..<1024 {
            var r = StoreTest.record(i, time: 1_700_000_000_000 + UInt64(i) * 1000, status: i % 20 == 0 ? 529 : 200,
                                     channel: i % 12 + 1, model: ["claude-sonnet-4", "claude-opus-4", "gpt-5", "gemini-2.5-pro"][i % 4],
                                     token: i % 30, ttfbMicros: UInt64(200_000 + i * 997 % 3_000_000))
            r.userAgent = "claude-cli/1.0.\(i) (external, cli)"
            records.append(r)
        }
        let t0 = monotonicNanos()
        var spins = 0
        for i in 0..<n {
            var r = records[i & 1023]
            r.id = UInt64(i)
            r.timeMillis = 1_700_000_000_000 + UInt64(i) * 3  // ~50 minutes of traffic per million
            while !store.writer.enqueue(r) {
                spins += 1
                usleep(200)
            }
        }
        let t1 = monotonicNanos()
        store.writer.flush()
        let t2 = monotonicNanos()
        let c = store.writer.snapshot()
        XCTAssertEqual(c.written, UInt64(n))
        let secs = Double(t2 - t0) / 1e9
        var st = stat()
        stat(dir + "/ccload.db", &st)
        var wal = stat()
        stat(dir + "/ccload.db-wal", &wal)
        print(String(format: "writer: %d records in %.2f s = %.0f records/s (enqueue phase %.2f s, %d full-queue waits, %llu batches, %llu full); db %.0f MB + wal %.0f MB",
                     n, secs, Double(n) / secs, Double(t1 - t0) / 1e9, spins, c.batches, c.fullBatches,
                     Double(st.st_size) / 1e6, Double(wal.st_size) / 1e6))
        // Cost of enqueue alone (the proxy side): a queue with room.
        let q = try Store.open(path: dir + "/q.db", options: StoreTest.options { $0.batchIntervalNanos = 60 * 1_000_000_000; $0.batchSize = 100_000; $0.queueCapacity = 100_000 })
        let e0 = monotonicNanos()
        for i in 0..<50_000 { q.writer.enqueue(records[i & 1023]) }
        let e1 = monotonicNanos()
        print(String(format: "enqueue: %.0f ns per record (uncontended)", Double(e1 - e0) / 50_000))
        q.close()
    }

    func testThirtyDayTrendOverTenMillionRequests() throws {
        guard enabled else { return }
        let dir = StoreTest.tempDir()
        let keep = ProcessInfo.processInfo.environment["CCLOAD_STORE_BENCH_KEEP"] == "1"
        defer { if keep { print("kept \(dir)/ccload.db") } else { StoreTest.remove(dir) } }
        let store = try Store.open(path: dir + "/ccload.db", options: StoreTest.options())
        defer { store.close() }
        // 30 days of hourly rows for 10,000,000 requests: 12 channels × 6 models × 40 tokens
        // possible; 400 (channel, model, token) combinations active each hour.
        let hours = 720, combos = 400
        let end: UInt64 = 1_800_000_000_000 / 3_600_000 * 3_600_000
        let start = end - UInt64(hours - 1) * 3_600_000
        let perRow = (10_000_000 + hours * combos - 1) / (hours * combos)
        var rng = SystemRandomNumberGenerator()
        let g0 = monotonicNanos()
        try store.withConfig { db in
            try db.exec("PRAGMA synchronous=OFF")
            try db.transaction {
                let cols = ["hour_ms", "channel_id", "model", "token_id", "requests", "successes", "errors_4xx", "errors_5xx",
                            "input_tokens", "output_tokens", "cost_micro", "ttfb_count", "ttfb_sum_us"] + TTFBBuckets.columns()
                let s = try db.prepare("INSERT OR IGNORE INTO stats_hourly(\(cols.joined(separator: ","))) VALUES(\(cols.map { _ in "?" }.joined(separator: ",")))")
                let all = (0..<(12 * 6 * 40)).map { ($0 % 12 + 1, $0 / 12 % 6 + 1, $0 / 72) }
                for h in 0..<hours {
                    for (c, m, t) in all.shuffled(using: &rng).prefix(combos) {
                        s.reset()
                        try s.bind(1, Int64(start + UInt64(h) * 3_600_000))
                        try s.bind(2, Int64(c))
                        try s.bind(3, "model-\(m)")
                        try s.bind(4, Int64(t))
                        try s.bind(5, Int64(perRow))
                        try s.bind(6, Int64(perRow - 2))
                        try s.bind(7, Int64(1))
                        try s.bind(8, Int64(1))
                        try s.bind(9, Int64(perRow * 3000))
                        try s.bind(10, Int64(perRow * 500))
                        try s.bind(11, Int64(perRow * 4000))
                        try s.bind(12, Int64(perRow))
                        try s.bind(13, Int64(perRow * 800_000))
                        for b in 0..<TTFBBuckets.count {
                            try s.bind(Int32(14 + b), b >= 16 && b < 22 ? Int64(perRow / 6) : 0)
                        }
                        _ = try s.step()
                    }
                }
            }
            // The rollups the writer would have kept alongside.
            let vals = Schema.valueColumns.joined(separator: ", ")
            let sums = Schema.valueColumns.map { "SUM(\($0))" }.joined(separator: ", ")
            for (dim, col) in [("all", "''"), ("channel", "CAST(channel_id AS TEXT)"), ("model", "model"), ("token", "CAST(token_id AS TEXT)")] {
                try db.exec("INSERT INTO stats_rollup(dim, key, hour_ms, \(vals)) SELECT '\(dim)', \(col), hour_ms, \(sums) FROM stats_hourly GROUP BY 2, 3")
            }
            try db.exec("PRAGMA synchronous=FULL; ANALYZE")
        }
        let g1 = monotonicNanos()
        let rows = try StoreTest.count(store, "SELECT count(*) FROM stats_hourly")
        let total = try StoreTest.count(store, "SELECT SUM(requests) FROM stats_hourly")
        print(String(format: "trend data: %lld stats_hourly rows for %lld requests, generated in %.1f s", rows, total, Double(g1 - g0) / 1e9))

        func time(_ label: String, _ body: (StoreReader) throws -> Void) throws {
            var best = Double.infinity
            for _ in 0..<5 {
                let t0 = monotonicNanos()
                try store.read(body)
                best = min(best, Double(monotonicNanos() - t0) / 1e6)
            }
            print(String(format: "%@: %.1f ms (best of 5)", label, best))
        }
        try time("trend 30 d, all") { r in XCTAssertEqual(try r.trend(.month, endMillis: end).count, 720) }
        try time("trend 7 d, all") { r in _ = try r.trend(.week, endMillis: end) }
        try time("trend 24 h, all") { r in _ = try r.trend(.day, endMillis: end) }
        try time("trend 30 d, one channel") { r in _ = try r.trend(.month, endMillis: end, channelID: 3) }
        try time("trend 30 d, one model") { r in _ = try r.trend(.month, endMillis: end, model: "model-2") }
        try time("stats 30 d by channel (with p50/p95)") { r in XCTAssertEqual(try r.stats(fromMillis: start, toMillis: end + 3_600_000, by: .channel).count, 12) }
        try time("stats 30 d by model") { r in _ = try r.stats(fromMillis: start, toMillis: end + 3_600_000, by: .model) }
        try time("stats 30 d by token") { r in _ = try r.stats(fromMillis: start, toMillis: end + 3_600_000, by: .token) }
        try time("stats 30 d by model for one channel (stats_hourly)") { r in _ = try r.stats(fromMillis: start, toMillis: end + 3_600_000, by: .model, channelID: 3) }
        try time("trend 30 d, one channel and model (stats_hourly)") { r in _ = try r.trend(.month, endMillis: end, channelID: 3, model: "model-2") }
    }
}
