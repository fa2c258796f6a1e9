/// The attempts column: a JSON array written by hand (JSONEncoder is too slow for the
/// writer), read back with JSONDecoder.
enum AttemptJSON {
    static func encode(_ attempts: [AttemptNote]) -> String {
        if attempts.isEmpty { return "[]" }
        var s = "["
        for (i, a) in attempts.enumerated() {
            if i > 0 { s += "," }
            s += "{\"channelID\":\(a.channelID),\"keyIndex\":\(a.keyIndex),\"status\":\(a.status)"
            if let f = a.failure {
                s += ",\"failure\":"
                appendString(&s, f)
            }
            s += "}"
        }
        s += "]"
        return s
    }

    static func appendString(_ s: inout String, _ v: String) {
        s += "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        s += "\""
    }
}
