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

    /// Whether a field of the class `kind` called `name` is hop-by-hop, or named by the
    /// message's Connection header (walked in place, no list made); `connectionNamesFields`
    /// is `namesFields(head)`, worked out once per head.
    @inline(__always)
    static func isHopByHop<H: HTTPHeadFields>(_ head: H, _ name: ArraySlice<UInt8>, _ kind: FieldName,
                                              connectionNamesFields: Bool) -> Bool {
        kind == .hopByHop || (connectionNamesFields && head.connectionNames(name))
    }

    /// Whether the head's Connection fields list anything besides `close` and hop-by-hop
    /// names (which go anyway): only then is each field looked up in them. The usual
    /// `Connection: keep-alive` skips that lookup for every field.
    static func namesFields<H: HTTPHeadFields>(_ head: H) -> Bool {
        head.anyConnectionToken { t in FieldName.of(t) != .hopByHop && !ASCII.equalsIgnoringCase(t, "close") }
    }

    /// What credential the upstream request carries. In every case each client credential
    /// field (`ProtocolRules.clientCredentialHeaders`: the ccload token, `Cookie`, …) is
    /// dropped: a client's credential never goes upstream.
    public enum Credential {
        /// No credential at all (pass-through without `CCLOAD_UPSTREAM_KEY`).
        case noKey
        /// The pass-through key, where the client put its credential (`x-api-key` or
        /// `Authorization`; with neither, where the path's protocol expects it).
        case keyInClientsPlace([UInt8])
        /// A channel's key, set the way its protocol wants; every client credential is dropped.
        case channel(ProtocolKind, [UInt8])
        /// A subscription account's credential fields (`AccountCredentials.Entry.fields`,
        /// whole header lines); with `beta`, the client's `anthropic-beta` values are sent
        /// after it in one `anthropic-beta` field (a client value equal to it is not repeated).
        case account(fields: [UInt8], beta: [UInt8]?)
    }

    /// The upstream request: `METHOD target HTTP/1.1`, Host, the client's end-to-end
    /// fields minus framing and every client credential, the credential `credential` names,
    /// and Content-Length for the (already de-chunked) body.
    public static func upstreamRequest(_ head: HTTPRequestHead, target: [UInt8], hostHeader: [UInt8],
                                       credential: Credential, bodyLength: Int) -> [UInt8] {
        var out: [UInt8] = []
        // Room for the new Host and credential fields and the length, so the head is one
        // allocation (with 64 bytes it grew once per request).
        out.reserveCapacity(head.bytes.count + target.count + hostHeader.count + 160 + {
            switch credential {
            case .noKey: 0
            case .keyInClientsPlace(let k), .channel(_, let k): 2 * k.count + 40
            case .account(let f, let b): f.count + (b?.count ?? 0) + 40
            }
        }())
        out.append(contentsOf: head.bytes[head.method])
        out.append(0x20)
        out.append(contentsOf: target)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        HTTP1Writer.appendHeader(&out, name: "Host", value: hostHeader[...])
        var sawApiKey = false, sawAuthorization = false
        let connectionNamesFields = namesFields(head)
        var mergeBeta: [UInt8]?
        if case .account(_, let b?) = credential { mergeBeta = b }
        var clientBetas: [ArraySlice<UInt8>] = []
        for f in head.fields {
            let name = head.name(of: f)
            let kind = FieldName.of(name)
            if isHopByHop(head, name, kind, connectionNamesFields: connectionNamesFields) { continue }
            if mergeBeta != nil && kind == .other && ASCII.equalsIgnoringCase(name, "anthropic-beta") {
                clientBetas.append(head.value(of: f))
                continue
            }
            switch kind {
            case .host, .contentLength, .expect:
                continue
            case .apiKey:
                sawApiKey = true
                continue
            case .authorization:
                sawAuthorization = true
                continue
            case .otherCredential:
                continue
            case .hopByHop, .requestID, .accessControl, .other:
                break
            }
            out.append(contentsOf: head.bytes[f.name.lowerBound..<f.value.upperBound])
            out.append(0x0D); out.append(0x0A)
        }
        switch credential {
        case .noKey:
            break
        case .keyInClientsPlace(let key):
            let anthropicPath = ASCII.hasPrefix(head.targetBytes, "/v1/messages")
            if sawApiKey || (!sawAuthorization && anthropicPath) {
                HTTP1Writer.appendHeader(&out, name: "x-api-key", value: key[...])
            }
            if sawAuthorization || (!sawApiKey && !anthropicPath) {
                HTTP1Writer.appendHeader(&out, name: "Authorization", value: (Array("Bearer ".utf8) + key)[...])
            }
        case .channel(let kind, let key):
            ProtocolRules.appendCredential(&out, kind: kind, key: key)
        case .account(let fields, let beta):
            out.append(contentsOf: fields)
            if let beta { appendMergedBeta(&out, beta, clientBetas) }
        }
        if bodyLength > 0 || head.contentLength != nil || head.chunked || head.methodIs("POST") || head.methodIs("PUT") || head.methodIs("PATCH") {
            HTTP1Writer.appendHeader(&out, name: "Content-Length", value: bodyLength)
        }
        HTTP1Writer.appendEndOfHead(&out)
        return out
    }

    /// `anthropic-beta: <beta>[,<client value>…]`, each client flag once, without `beta` again.
    public static func appendMergedBeta(_ out: inout [UInt8], _ beta: [UInt8], _ client: [ArraySlice<UInt8>]) {
        out.append(contentsOf: "anthropic-beta: ".utf8)
        out.append(contentsOf: beta)
        for v in client {
            for flag in v.split(separator: 0x2C) {
                var t = flag[...]
                while let c = t.first, c == 0x20 || c == 0x09 { t = t.dropFirst() }
                while let c = t.last, c == 0x20 || c == 0x09 { t = t.dropLast() }
                if t.isEmpty || ASCII.equalsIgnoringCase(t, beta[...]) { continue }
                out.append(0x2C)
                out.append(contentsOf: t)
            }
        }
        out.append(0x0D); out.append(0x0A)
    }

    /// The client response head: the upstream status and end-to-end fields. The upstream's
    /// framing fields are never copied (nor can its `Connection` remove them): with
    /// `keepLength` the parsed length is written as the one `Content-Length`; otherwise
    /// the caller adds the framing it chose.
    public static func clientResponse(_ head: HTTPResponseHead, keepLength: Bool, into out: inout [UInt8]) {
        HTTP1Writer.appendStatusLine(&out, status: head.status)
        let connectionNamesFields = namesFields(head)
        for f in head.fields {
            let name = head.name(of: f)
            let kind = FieldName.of(name)
            if kind == .contentLength || isHopByHop(head, name, kind, connectionNamesFields: connectionNamesFields) { continue }
            // CORS is ccload's to grant (`CORSPolicy`), never the upstream's.
            if kind == .accessControl { continue }
            if kind == .requestID {
                // The answer carries ccload's request id; the upstream's goes on under another name.
                HTTP1Writer.appendHeader(&out, name: "x-upstream-request-id", value: head.value(of: f))
                continue
            }
            out.append(contentsOf: head.bytes[f.name.lowerBound..<f.value.upperBound])
            out.append(0x0D); out.append(0x0A)
        }
        if keepLength, let n = head.contentLength {
            HTTP1Writer.appendHeader(&out, name: "Content-Length", value: n)
        }
    }
}
