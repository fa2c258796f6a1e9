import Glibc
import Proxy
import Reactor

/// The benchmark proper (kept out of `main.swift`, whose top-level code is `@MainActor`).
enum StoreBench {
    struct Options {
        var records = 200_000
        var rounds = 3
        var seconds = 120.0
        /// Distinct (channel, model, token) combinations: 1 is the pinned relay profile's shape.
        var mix = 1
        var batchSize = 1_000
        var keep = false
        /// Indexes dropped before the round (to measure what each costs the writer).
        var dropIndexes: [String] = []
        /// When the writer packs a batch (`StoreOptions.logPacking`); `never` is the row
        /// insert alone.
        var packing = LogPacking.whenBusy
        /// `StoreOptions.maxPendingLogRows`: 0 moves a segment after every packed batch, the
        /// writer's cost under a load that lasts past the cap.
        var maxPending = StoreOptions().maxPendingLogRows
    }

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fatalError("\(args[i - 1]) wants a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "-n", "--records": o.records = max(1, Int(value()) ?? o.records)
            case "--rounds": o.rounds = max(1, Int(value()) ?? o.rounds)
            case "--seconds": o.seconds = max(1, Double(value()) ?? o.seconds)
            case "--mix": o.mix = max(1, Int(value()) ?? o.mix)
            case "--batch": o.batchSize = max(1, Int(value()) ?? o.batchSize)
            case "--keep": o.keep = true
            case "--drop-index": o.dropIndexes += value().split(separator: ",").map(String.init)
            case "--max-pending": o.maxPending = max(0, Int(value()) ?? o.maxPending)
            case "--packing":
                switch value() {
                case "never": o.packing = .never
                case "busy": o.packing = .whenBusy
                case "always": o.packing = .always
                default: fatalError("--packing never|busy|always")
                }
            default:
                print("usage: ccload-store-bench [-n records] [--rounds r] [--seconds s] [--mix combos] [--batch rows] [--keep] [--drop-index name,…] [--packing never|busy|always] [--max-pending rows]")
                exit(2)
            }
            i += 1
        }
        return o
    }

    /// What the relay records for one `/v1/messages` call through one channel.
    static func templates(mix: Int) -> [RequestRecord] {
        let models = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001", "gpt-5-codex"]
        return (0..<max(mix, 16)).map { i in
            var r = RequestRecord()
            let combo = i % mix
            r.tokenID = combo % 7 + 1
            r.channelID = combo % 5 + 1
            r.channelName = "anthropic-main-\(combo % 5 + 1)"
            r.keyIndex = 0
            r.protocolName = "anthropic"
            r.path = "/v1/messages"
            r.requestedModel = models[combo % models.count]
            r.upstreamModel = r.requestedModel
            r.stream = i % 3 == 0
            r.status = 200
            r.attempts = [AttemptNote(channelID: r.channelID!, keyIndex: 0, status: 200, failure: nil)]
            r.ttfbMicros = UInt64(400 + i * 37)
            r.durationMicros = UInt64(900 + i * 53)
            r.inputTokens = 1_200 + i
            r.outputTokens = 350 + i
            r.cacheReadTokens = 20_000
            r.cacheWrite5mTokens = 0
            r.cacheWrite1hTokens = 0
            r.usageKnown = true
            r.costMicroUSD = 9_123
            r.priced = true
            r.clientAddress = "127.0.0.1"
            r.userAgent = "claude-cli/2.0.14 (external, cli)"
            return r
        }
    }

    static func cpuMicros(_ clock: clockid_t) -> Int64 {
        var t = timespec()
        clock_gettime(clock, &t)
        return Int64(t.tv_sec) * 1_000_000 + Int64(t.tv_nsec) / 1_000
    }

    /// CPU of every thread but this one (the writer; the readers sleep throughout).
    static func othersMicros() -> Int64 { cpuMicros(CLOCK_PROCESS_CPUTIME_ID) - cpuMicros(CLOCK_THREAD_CPUTIME_ID) }

    struct Round {
        var written: UInt64
        var writerCPU: Double
        /// The writer's CPU until every record was written (packed or as rows), before the
        /// pending segments were moved; and the batches packed.
        var loadCPU: Double
        var packed: UInt64
        var wall: Double
        var batches: UInt64
        var dbBytes: Int
    }

    static func round(_ o: Options, _ templates: [RequestRecord], dir: String) throws -> Round {
        var opts = StoreOptions()
        opts.batchSize = o.batchSize
        opts.logPacking = o.packing
        opts.maxPendingLogRows = o.maxPending
        opts.readerThreads = 1
        opts.firstRetentionDelayNanos = 3600 * 1_000_000_000
        let store = try Store.open(path: dir + "/ccload.db", options: opts)
        for name in o.dropIndexes { try store.withConfig { try $0.exec("DROP INDEX \(name)") } }
        let deadline = monotonicNanos() &+ UInt64(o.seconds * 1e9)
        let start = wallClockMillis() / 3_600_000 * 3_600_000
        let c0 = othersMicros()
        let t0 = monotonicNanos()
        var sent = 0
        while sent < o.records && monotonicNanos() < deadline {
            var r = templates[sent % templates.count]
            r.id = UInt64(sent)
            // ~24k requests per second: an hour boundary every 86M records, so none here.
            r.timeMillis = start + UInt64(sent / 24)
            if store.writer.enqueue(r) { sent += 1 } else { usleep(100) }
        }
        // Every record written (rows, or packed segments not yet moved), then the flush,
        // which moves the segments too.
        while store.writer.snapshot().written + store.writer.snapshot().dropped < UInt64(sent) { usleep(200) }
        let loadCPU = Double(othersMicros() - c0) / 1e6
        store.writer.flush()
        let wall = Double(monotonicNanos() - t0) / 1e9
        let cpu = Double(othersMicros() - c0) / 1e6
        let c = store.writer.snapshot()
        store.close()
        var st = stat()
        stat(dir + "/ccload.db", &st)
        return Round(written: c.written, writerCPU: cpu, loadCPU: loadCPU, packed: c.packedBatches, wall: wall, batches: c.batches, dbBytes: Int(st.st_size))
    }

    static func main(_ args: [String]) {
        let o = parse(args)
        let templates = templates(mix: o.mix)
        var rates: [Double] = []
        var loadRates: [Double] = []
        for k in 0..<o.rounds {
            var tmpl = Array("/tmp/ccload-store-bench.XXXXXX".utf8CString)
            guard let p = mkdtemp(&tmpl) else { fatalError("mkdtemp failed") }
            let dir = String(cString: p)
            do {
                let r = try round(o, templates, dir: dir)
                let rate = Double(r.written) / max(r.writerCPU, 1e-6)
                rates.append(rate)
                loadRates.append(Double(r.written) / max(r.loadCPU, 1e-6))
                print(String(format: "round %d: %llu records, writer %.3f CPU-s (%.0f records/CPU-s, %.2f µs/record; %.2f µs/record under load, %llu batches packed), wall %.2f s, %llu batches, db %.1f MB",
                             k + 1, r.written, r.writerCPU, rate, r.writerCPU * 1e6 / Double(max(r.written, 1)),
                             r.loadCPU * 1e6 / Double(max(r.written, 1)), r.packed, r.wall,
                             r.batches, Double(r.dbBytes) / 1e6))
            } catch {
                print("round \(k + 1): \(error)")
                exit(1)
            }
            if o.keep { print("kept \(dir)") } else { _ = system("rm -rf '\(dir)'") }
        }
        rates.sort()
        let without = o.dropIndexes.isEmpty ? "" : ", without " + o.dropIndexes.joined(separator: ",")
        loadRates.sort()
        print(String(format: "median: %.0f records per writer CPU-second in all, %.0f under load (before moving pending segments)",
                     rates[rates.count / 2], loadRates[loadRates.count / 2]) + " (mix \(o.mix), batch \(o.batchSize), packing \(o.packing)\(without))")
    }
}
