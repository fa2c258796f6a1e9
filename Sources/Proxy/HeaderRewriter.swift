import Reactor

/// Builds the heads that cross the proxy: the request to the upstream and the response
/// to the client, dropping hop-by-hop fields (RFC 9110 7.6.1) and the ones the proxy
/// sets itself. Works on bytes; no String on this path.
public enum HeaderRewriter {
    /// Fields never forwarded in either direction.
    static let hopByHop: [StaticString] = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// Whether the field is hop-by-hop, or named by the message's Connection header.
    static func isHopByHop<H: HTTPHeadFields>(_ head: H, _ field: HTTPHeaderField, connectionTokens: [ArraySlice<UInt8>]) -> Bool {
        let name = head.name(of: field)
        for h in hopByHop where ASCII.equalsIgnoringCase(name, h) { return true }
        for t in connectionTokens where ASCII.equalsIgnoringCase(name, t) { return true }
        return false
    }

    /// The upstream request: `METHOD prefix+target HTTP/1.1`, the client's end-to-end fields
    /// minus Host, framing and (when `key` is set) credentials, then Host, the key and
    /// Content-Length for the (already de-chunked) body.
    public static func upstreamRequest(_ head: HTTPRequestHead, pathPrefix: [UInt8], hostHeader: [UInt8], key: [UInt8]?, bodyLength: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(head.bytes.count + 64)
        out.append(contentsOf: head.bytes[head.method])
        out.append(0x20)
        out.append(contentsOf: pathPrefix)
        out.append(contentsOf: head.bytes[head.target])
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        HTTP1Writer.appendHeader(&out, name: "Host", value: hostHeader[...])
        let tokens = head.connectionTokens()
        var sawApiKey = false, sawAuthorization = false
        for f in head.fields {
            if isHopByHop(head, f, connectionTokens: tokens) { continue }
            let name = head.name(of: f)
            if ASCII.equalsIgnoringCase(name, "host") || ASCII.equalsIgnoringCase(name, "content-length")
                || ASCII.equalsIgnoringCase(name, "expect") {
                continue
            }
            if key != nil {
                if ASCII.equalsIgnoringCase(name, "x-api-key") { sawApiKey = true; continue }
                if ASCII.equalsIgnoringCase(name, "authorization") { sawAuthorization = true; continue }
                if ASCII.equalsIgnoringCase(name, "x-goog-api-key") { continue }
            }
            out.append(contentsOf: head.bytes[f.name.lowerBound..<f.value.upperBound])
            out.append(0x0D); out.append(0x0A)
        }
        if let key {
            // Credentials go where the client put its own; with none, where the path's protocol expects them.
            let anthropicPath = ASCII.hasPrefix(head.targetBytes, "/v1/messages")
            if sawApiKey || (!sawAuthorization && anthropicPath) {
                HTTP1Writer.appendHeader(&out, name: "x-api-key", value: key[...])
            }
            if sawAuthorization || (!sawApiKey && !anthropicPath) {
                HTTP1Writer.appendHeader(&out, name: "Authorization", value: (Array("Bearer ".utf8) + key)[...])
            }
        }
        if bodyLength > 0 || head.contentLength != nil || head.chunked || head.methodIs("POST") || head.methodIs("PUT") || head.methodIs("PATCH") {
            HTTP1Writer.appendHeader(&out, name: "Content-Length", value: bodyLength)
        }
        HTTP1Writer.appendEndOfHead(&out)
        return out
    }

    /// The client response head: the upstream status and end-to-end fields; framing
    /// fields are left to the caller (`keepLength` keeps the upstream Content-Length).
    public static func clientResponse(_ head: HTTPResponseHead, keepLength: Bool, into out: inout [UInt8]) {
        HTTP1Writer.appendStatusLine(&out, status: head.status)
        let tokens = head.connectionTokens()
        for f in head.fields {
            if isHopByHop(head, f, connectionTokens: tokens) { continue }
            if !keepLength && ASCII.equalsIgnoringCase(head.name(of: f), "content-length") { continue }
            out.append(contentsOf: head.bytes[f.name.lowerBound..<f.value.upperBound])
            out.append(0x0D); out.append(0x0A)
        }
    }
}
