/// The request every connection sends, serialised once: head bytes and body bytes.
/// Connections share the arrays (copy-on-write, never copied).
struct RequestTemplate: Sendable {
    let head: [UInt8]
    let body: [UInt8]
    let isHEAD: Bool

    init(method: String, url: TargetURL, headers: [(name: String, value: String)], body: [UInt8]) {
        var h: [UInt8] = []
        h.append(contentsOf: method.utf8)
        h.append(0x20)
        h.append(contentsOf: url.target.utf8)
        h.append(contentsOf: " HTTP/1.1\r\n".utf8)
        var names = Set<String>()
        func add(_ name: String, _ value: String) {
            names.insert(name.lowercased())
            h.append(contentsOf: name.utf8)
            h.append(contentsOf: ": ".utf8)
            h.append(contentsOf: value.utf8)
            h.append(contentsOf: "\r\n".utf8)
        }
        for (n, v) in headers { add(n, v) }
        if !names.contains("host") { add("Host", url.authority) }
        if !names.contains("user-agent") { add("User-Agent", "ccload-loadgen") }
        if !body.isEmpty || method == "POST" || method == "PUT" {
            if !names.contains("content-type") { add("Content-Type", "application/json") }
            if !names.contains("content-length") { add("Content-Length", String(body.count)) }
        }
        h.append(contentsOf: "\r\n".utf8)
        self.head = h
        self.body = body
        self.isHEAD = method == "HEAD"
    }

    /// A Messages-API-shaped JSON body of exactly `size` bytes (at least the skeleton's length).
    static func jsonBody(size: Int) -> [UInt8] {
        let prefix = Array(#"{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":""#.utf8)
        let suffix = Array(#""}]}"#.utf8)
        let fill = max(0, size - prefix.count - suffix.count)
        var out = prefix
        out.reserveCapacity(prefix.count + fill + suffix.count)
        // Printable, JSON-safe filler that does not compress to nothing.
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ".utf8)
        for i in 0..<fill { out.append(alphabet[(i &* 7 &+ i / 27) % alphabet.count]) }
        out.append(contentsOf: suffix)
        return out
    }
}
