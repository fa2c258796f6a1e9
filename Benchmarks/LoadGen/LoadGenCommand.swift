import ArgumentParser
import Glibc
import Reactor

/// `ccload-loadgen`: HTTP/1.1 load on keep-alive connections, closed or open loop.
struct LoadGenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccload-loadgen",
        abstract: "HTTP/1.1 load generator on ccload's reactor: keep-alive connections, closed loop or fixed rate.",
        discussion: """
            Closed loop (--rate 0): every connection sends its next request as soon as the last \
            response ends. Open loop (--rate R): R requests/s in all, spread evenly over the \
            connections; latency counts from each request's intended send time, so a stalled \
            server is not hidden by the generator waiting for it (no coordinated omission). \
            Latencies: time to first byte (response head), time to the first body byte (the \
            first SSE event through a proxy), with --first-match the time until the body \
            first contains a string (say the first content event), and the full response.
            """)

    @Option(help: "Target, http://host:port/path?query (plain HTTP only).")
    var url: String
    @Option(help: "Keep-alive connections.")
    var connections: Int = 64
    @Option(help: "Event loops (threads).")
    var threads: Int = 1
    @Option(help: "Seconds measured, after the warm-up (SIGINT/SIGTERM end the run sooner, still reporting).")
    var duration: Double = 10
    @Option(help: "Seconds of load before measuring starts.")
    var warmup: Double = 1
    @Option(help: "Requests per second over all connections; 0 = closed loop, as fast as possible.")
    var rate: Double = 0
    @Option(help: "Seconds over which connections are opened (spread evenly); 0 = all at once.")
    var ramp: Double = 0
    @Option(help: "Request method (default POST when there is a body, else GET).")
    var method: String?
    @Option(help: "Request body: a Messages-API-shaped JSON document of this many bytes.")
    var bodySize: Int?
    @Option(help: "Request body, verbatim.")
    var body: String?
    @Option(name: .customLong("header"), help: "Extra request header 'name: value' (repeatable).")
    var headers: [String] = []
    @Option(help: "Seconds a request may take before it counts as a timeout (its connection is closed).")
    var timeout: Double = 10
    @Option(help: "Seconds to connect before it counts as a connection error.")
    var connectTimeout: Double = 3
    @Option(help: "Also time until the (de-chunked) response body first contains this string, across reads: first_match_us.")
    var firstMatch: String?
    @Flag(help: "Print one line of JSON instead of the text report.")
    var json = false
    @Option(help: "Free-form name echoed in the report (e.g. the target's role).")
    var label: String?

    func validate() throws {
        guard TargetURL(url) != nil else { throw ValidationError("--url must look like http://host:port/path") }
        guard connections >= 1, connections <= 1_000_000 else { throw ValidationError("--connections must be >= 1") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be 1...256") }
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration must be > 0") }
        guard warmup >= 0, ramp >= 0, rate >= 0, timeout > 0, connectTimeout > 0 else {
            throw ValidationError("--warmup, --ramp, --rate must be >= 0; --timeout, --connect-timeout > 0")
        }
        guard body == nil || bodySize == nil else { throw ValidationError("give --body or --body-size, not both") }
        if let b = bodySize, b < 0 { throw ValidationError("--body-size must be >= 0") }
        if let m = firstMatch, m.isEmpty { throw ValidationError("--first-match must not be empty") }
        for h in headers where !h.contains(":") { throw ValidationError("--header wants 'name: value', got '\(h)'") }
    }

    func run() throws {
        let target = TargetURL(url)!
        let addresses = SocketAddress.resolveBlocking(host: target.host, port: target.port)
        guard !addresses.isEmpty else { throw ValidationError("cannot resolve \(target.host)") }
        var bodyBytes: [UInt8] = []
        if let b = body { bodyBytes = Array(b.utf8) }
        if let s = bodySize { bodyBytes = RequestTemplate.jsonBody(size: s) }
        let verb = method?.uppercased() ?? (bodyBytes.isEmpty ? "GET" : "POST")
        let extra = headers.map { h -> (name: String, value: String) in
            let colon = h.firstIndex(of: ":")!
            return (String(h[..<colon]).trimmingSpaces, String(h[h.index(after: colon)...]).trimmingSpaces)
        }
        let settings = LoadRun.Settings(
            addresses: addresses, request: RequestTemplate(method: verb, url: target, headers: extra, body: bodyBytes),
            connections: connections, threads: min(threads, connections), rate: rate,
            warmupNanos: nanos(warmup), durationNanos: nanos(duration), rampNanos: nanos(ramp),
            timeoutNanos: nanos(timeout), connectTimeoutNanos: nanos(connectTimeout),
            firstMatch: firstMatch.map { Array($0.utf8) })
        let (stats, measured) = LoadRun.execute(settings)
        let report = Report(label: label, url: url, method: verb, bodyBytes: bodyBytes.count,
                            connections: connections, threads: settings.threads, rate: rate,
                            duration: measured, stats: stats)
        print(json ? report.json() : report.text())
    }

    private func nanos(_ seconds: Double) -> UInt64 { UInt64(seconds * 1e9) }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
