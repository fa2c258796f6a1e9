/// Error bodies in Anthropic's shape:
/// `{"type":"error","error":{"type":"…","message":"…"}}`.
public enum ErrorBody {
    /// The Anthropic error type for an HTTP status.
    public static func anthropicType(for status: Int) -> String {
        switch status {
        case 400, 405, 408, 411, 413, 415, 431: return status == 413 ? "request_too_large" : "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 504: return "timeout_error"
        case 529: return "overloaded_error"
        default: return status >= 500 ? "api_error" : "invalid_request_error"
        }
    }

    public static func anthropic(status: Int, message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + message.utf8.count)
        out.append(contentsOf: #"{"type":"error","error":{"type":""#.utf8)
        out.append(contentsOf: anthropicType(for: status).utf8)
        out.append(contentsOf: #"","message":""#.utf8)
        JSONString.appendEscaped(&out, message)
        out.append(contentsOf: #""}}"#.utf8)
        return out
    }
}

/// JSON string escaping (RFC 8259) for the few JSON bodies the proxy writes itself.
public enum JSONString {
    public static func appendEscaped(_ out: inout [UInt8], _ s: String) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0..<0x20:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
    }
}
