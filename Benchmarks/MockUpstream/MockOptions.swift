import Reactor

/// What one mock request asks for, from its query string or `x-mock-*` headers
/// (headers win). Bodies that say `"stream":true` stream too.
struct MockOptions {
    var status = 200
    /// JSON body size for non-streaming answers.
    var size = 1024
    var stream = false
    var events = 5
    var delayMs = 0
    /// Delay before the response head.
    var headDelayMs = 0
    /// Cut the connection: "head" (before any byte), "body" (after the head and one event).
    var cut: String?
    /// Hold the stream after its first event until `POST /mock/release?gate=NAME`.
    var gate: String?
    /// Answer with an SSE `error` event first.
    var sseError = false
    var inputTokens = 12
    var outputTokens = 34

    init(_ request: HTTPRequest) {
        let head = request.head
        let target = String(decoding: head.targetBytes, as: UTF8.self)
        var pairs: [(String, String)] = []
        if let q = target.firstIndex(of: "?") {
            for part in target[target.index(after: q)...].split(separator: "&") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                pairs.append((kv[0], kv.count > 1 ? kv[1] : "1"))
            }
        }
        for f in head.fields {
            let name = String(decoding: head.name(of: f), as: UTF8.self).lowercased()
            if name.hasPrefix("x-mock-") {
                pairs.append((String(name.dropFirst(7).map { $0 == "-" ? "_" : $0 }),
                              String(decoding: head.value(of: f), as: UTF8.self)))
            }
        }
        if request.body.count < 65536 {
            let body = String(decoding: request.body, as: UTF8.self)
            if body.contains("\"stream\":true") || body.contains("\"stream\": true") { stream = true }
        }
        for (k, v) in pairs {
            switch k {
            case "status": status = Int(v) ?? status
            case "size": size = min(Int(v) ?? size, 64 << 20)
            case "stream": stream = v != "0" && v != "false"
            case "events": events = Int(v) ?? events
            case "delay_ms": delayMs = Int(v) ?? delayMs
            case "head_delay_ms": headDelayMs = Int(v) ?? headDelayMs
            case "cut": cut = v
            case "gate": gate = v
            case "sse_error": sseError = v != "0"
            case "input_tokens": inputTokens = Int(v) ?? inputTokens
            case "output_tokens": outputTokens = Int(v) ?? outputTokens
            default: break
            }
        }
    }
}
