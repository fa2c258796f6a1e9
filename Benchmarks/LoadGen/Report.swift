import Histogram

/// The run's figures, as text for people or one line of JSON for scripts.
/// Latencies are reported in microseconds.
struct Report {
    var label: String?
    var url: String
    var method: String
    var bodyBytes: Int
    var connections: Int
    var threads: Int
    var rate: Double
    var duration: Double
    var stats: RunStats

    var rps: Double { duration > 0 ? Double(stats.requests) / duration : 0 }
    var errors: Int { stats.non2xx + stats.connectErrors + stats.ioErrors + stats.timeouts }

    static let percentiles: [(name: String, p: Double)] = [
        ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9),
    ]

    static func micros(_ nanos: UInt64) -> String { fixed(Double(nanos) / 1000, 1) }

    /// `v` with `digits` decimals, without Foundation.
    static func fixed(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let n = Int64((v * scale).rounded())
        let whole = n / Int64(scale)
        let frac = n % Int64(scale)
        if digits == 0 { return String(whole) }
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return "\(whole).\(f)"
    }

    private func latencyJSON(_ h: Histogram<UInt64>) -> String {
        if h.totalCount == 0 { return #"{"count":0}"# }
        var parts = [#""count":\#(h.totalCount)"#]
        for (name, p) in Report.percentiles {
            parts.append(#""\#(name)":\#(Report.micros(h.valueAtPercentile(p)))"#)
        }
        parts.append(#""max":\#(Report.micros(h.max))"#)
        return "{" + parts.joined(separator: ",") + "}"
    }

    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if ch.value < 0x20 { out += "\\u00" + (ch.value < 16 ? "0" : "") + String(ch.value, radix: 16) }
                else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }

    func json() -> String {
        let s = stats
        let statuses = s.statuses.keys.sorted().map { #""\#($0)":\#(s.statuses[$0]!)"# }.joined(separator: ",")
        var fields: [String] = []
        if let label { fields.append(#""label":\#(Report.jsonString(label))"#) }
        fields += [
            #""url":\#(Report.jsonString(url))"#,
            #""method":"\#(method)""#,
            #""body_bytes":\#(bodyBytes)"#,
            #""connections":\#(connections)"#,
            #""threads":\#(threads)"#,
            #""rate":\#(Report.fixed(rate, 1))"#,
            #""duration_s":\#(Report.fixed(duration, 3))"#,
            #""requests":\#(s.requests)"#,
            #""rps":\#(Report.fixed(rps, 1))"#,
            #""errors":{"total":\#(errors),"non2xx":\#(s.non2xx),"connect":\#(s.connectErrors),"io":\#(s.ioErrors),"timeout":\#(s.timeouts),"statuses":{\#(statuses)}}"#,
            #""bytes":\#(s.bytes)"#,
            #""connects":\#(s.connects)"#,
            #""inflight_at_end":\#(s.inflightAtEnd)"#,
            #""open_streams_at_end":\#(s.openStreamsAtEnd)"#,
            #""max_backlog":\#(s.maxBacklog)"#,
            #""ttfb_us":\#(latencyJSON(s.ttfb))"#,
            #""first_body_us":\#(latencyJSON(s.firstBody))"#,
            #""first_match_us":\#(latencyJSON(s.firstMatch))"#,
            #""total_us":\#(latencyJSON(s.total))"#,
            #""send_lag_us":\#(latencyJSON(s.sendLag))"#,
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func latencyLine(_ name: String, _ h: Histogram<UInt64>) -> String {
        if h.totalCount == 0 { return "  \(pad(name, 16))(none)" }
        var line = "  \(pad(name, 16))"
        for (label, p) in Report.percentiles {
            line += pad("\(label) \(Report.micros(h.valueAtPercentile(p)))", 17)
        }
        return line + "max \(Report.micros(h.max))"
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    func text() -> String {
        let s = stats
        var lines: [String] = []
        let mode = rate > 0 ? "open loop at \(Report.fixed(rate, 0)) req/s" : "closed loop"
        lines.append("\(label.map { "[\($0)] " } ?? "")\(method) \(url)  (\(bodyBytes) B body)")
        lines.append("  \(connections) connections on \(threads) threads, \(mode), \(Report.fixed(duration, 1)) s measured")
        lines.append("  requests \(s.requests)   \(Report.fixed(rps, 1)) req/s   received \(Report.fixed(Double(s.bytes) / 1_048_576, 2)) MiB")
        var err = "  errors \(errors): non-2xx \(s.non2xx), connect \(s.connectErrors), io \(s.ioErrors), timeout \(s.timeouts)"
        if !s.statuses.isEmpty {
            err += "  [" + s.statuses.keys.sorted().map { "\($0): \(s.statuses[$0]!)" }.joined(separator: ", ") + "]"
        }
        lines.append(err)
        lines.append("  connections opened \(s.connects), in flight at end \(s.inflightAtEnd) (\(s.openStreamsAtEnd) with head)"
                     + (rate > 0 ? ", max backlog per connection \(s.maxBacklog)" : ""))
        lines.append("  latency (µs)")
        lines.append(latencyLine("first byte", s.ttfb))
        lines.append(latencyLine("first body byte", s.firstBody))
        if s.firstMatch.totalCount > 0 { lines.append(latencyLine("first match", s.firstMatch)) }
        lines.append(latencyLine("full response", s.total))
        if rate > 0 { lines.append(latencyLine("send lag", s.sendLag)) }
        return lines.joined(separator: "\n")
    }
}
