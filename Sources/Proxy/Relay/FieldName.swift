/// What a header field's name means to the proxy, decided by one switch on the name's length
/// and at most two comparisons, for every field of every head that crosses it (the lists
/// `HeaderRewriter.hopByHop` and `ProtocolRules.clientCredentialHeaders` were walked name by
/// name, about twenty comparisons per field). `FieldNameTests` checks it against both lists.
enum FieldName: Equatable {
    /// RFC 9110 7.6.1's hop-by-hop fields (`HeaderRewriter.hopByHop`).
    case hopByHop
    case host
    case contentLength
    case expect
    /// Client credentials (`ProtocolRules.clientCredentialHeaders`), with the two whose
    /// place the pass-through key takes told apart.
    case apiKey
    case authorization
    case otherCredential
    /// `x-request-id`: the answer carries ccload's own.
    case requestID
    /// `access-control-*`: CORS is ccload's to grant (`CORSPolicy`), never the upstream's.
    case accessControl
    case other

    /// `name` is a field name (or a Connection list token) from a parsed head: no control
    /// bytes but HTAB (`ASCII.equalsLowercaseToken`).
    static func of(_ name: ArraySlice<UInt8>) -> FieldName {
        @inline(__always) func eq(_ s: StaticString) -> Bool { ASCII.equalsLowercaseToken(name, s) }
        switch name.count {
        case 2: return eq("te") ? .hopByHop : .other
        case 4: return eq("host") ? .host : .other
        case 6:
            if eq("expect") { return .expect }
            return eq("cookie") ? .otherCredential : .other
        case 7:
            if eq("trailer") || eq("upgrade") { return .hopByHop }
            return eq("api-key") ? .otherCredential : .other
        case 9: return eq("x-api-key") ? .apiKey : .other
        case 10: return eq("connection") || eq("keep-alive") ? .hopByHop : .other
        case 12: return eq("x-request-id") ? .requestID : .other
        case 13: return eq("authorization") ? .authorization : .other
        case 14:
            if eq("content-length") { return .contentLength }
            return eq("x-goog-api-key") ? .otherCredential : .other
        case 16: return eq("proxy-connection") ? .hopByHop : accessControlOrOther(name)
        case 17: return eq("transfer-encoding") ? .hopByHop : accessControlOrOther(name)
        case 18:
            if eq("proxy-authenticate") { return .hopByHop }
            return eq("chatgpt-account-id") ? .otherCredential : accessControlOrOther(name)
        case 19: return eq("proxy-authorization") ? .hopByHop : accessControlOrOther(name)
        default: return accessControlOrOther(name)
        }
    }

    /// Past the listed names: a name starting `access-control-`, else other.
    @inline(__always)
    private static func accessControlOrOther(_ name: ArraySlice<UInt8>) -> FieldName {
        name.count >= 15 && ASCII.hasPrefixIgnoringCase(name, "access-control-") ? .accessControl : .other
    }

    var isCredential: Bool { self == .apiKey || self == .authorization || self == .otherCredential }
}
