// ccload-mock: the mock upstream used by the tests and the benchmarks.
import ArgumentParser
import TLS

struct MockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccload-mock",
        abstract: "Mock LLM upstream (Anthropic, OpenAI chat, Responses, Gemini): JSON or SSE answers, delays, failures.",
        discussion: """
            The protocol follows the path: /v1/messages, /v1/messages/count_tokens, \
            /v1/chat/completions, /v1/responses, /v1beta/models/{m}:generateContent and \
            :streamGenerateContent (SSE with alt=sse). The flags set this process's behaviour; \
            a request's query parameters or x-mock-* headers override them (status, stream, \
            events, delay_ms, first_delay_ms, head_delay_ms, cut=head|body, cut_after_events, gate, \
            sse_error=1|TYPE, retry_after, input_tokens, output_tokens, cache_read, \
            cache_write_5m, cache_write_1h, size). GET /mock/stats tells what it saw.
            """)

    @Option(help: "Port (0 picks a free one).") var port: Int = 0
    @Option(help: "Address to listen on.") var listen: String = "127.0.0.1"
    @Option(help: "Reactor threads.") var threads: Int = 1
    @Option(help: "Serve HTTPS with this certificate chain (PEM).") var tlsCert: String?
    @Option(help: "Private key (PEM) for --tls-cert.") var tlsKey: String?
    @Option(help: "Answer every request with this status (an error body in the protocol's shape).") var status: Int = 200
    @Option(help: "Only the first K requests fail (with --status, default 500); later ones succeed.") var failFirst: Int = 0
    @Option(help: "retry-after header value on error answers (429 without it: 7).") var retryAfter: String?
    @Option(help: "Milliseconds to wait before the response head.") var headDelayMs: Int = 0
    @Option(help: "Milliseconds between streamed events.") var delayMs: Int = 0
    @Option(help: "Content events per answer.") var events: Int = 5
    @Option(help: "Close the connection after this many streamed content events.") var cutAfterEvents: Int?
    @Option(help: "Send an SSE error event of this type before any content.") var sseErrorFirst: String?
    @Option(help: "Answer 401 unless this key arrives in the protocol's credential header.") var requireKey: String?
    @Option(help: "Input (prompt) tokens reported.") var inputTokens: Int = 12
    @Option(help: "Output tokens reported.") var outputTokens: Int = 34
    @Option(help: "Cache-read (cached) tokens reported.") var cacheRead: Int = 0
    @Option(name: .customLong("cache-write-5m"), help: "Anthropic 5-minute cache-write tokens reported.") var cacheWrite5m: Int = 0
    @Option(name: .customLong("cache-write-1h"), help: "Anthropic 1-hour cache-write tokens reported.") var cacheWrite1h: Int = 0

    func run() throws {
        var tls: TLSServerContext?
        if let c = tlsCert, let k = tlsKey { tls = try TLSServerContext(certFile: c, keyFile: k) }
        mockDefaults = MockDefaults(
            status: status, failFirst: failFirst, retryAfter: retryAfter, headDelayMs: headDelayMs, delayMs: delayMs,
            events: events, cutAfterEvents: cutAfterEvents, sseErrorFirst: sseErrorFirst, requireKey: requireKey,
            inputTokens: inputTokens, outputTokens: outputTokens, cacheRead: cacheRead,
            cacheWrite5m: cacheWrite5m, cacheWrite1h: cacheWrite1h)
        MockServer.run(listen: listen, port: port, threads: threads, tls: tls)
    }
}

MockCommand.main()
