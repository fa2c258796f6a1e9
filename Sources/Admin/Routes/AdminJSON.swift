import Foundation

/// JSON for the admin API: snake_case keys, sorted for stable output; input decoded
/// from snake_case, with a decoding failure turned into a 400 naming the field.
public enum AdminJSON {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return Array(try enc.encode(value)) } catch {
            return Array(#"{"error":{"type":"server_error","message":"response could not be encoded"}}"#.utf8)
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws(AdminError) -> T {
        if body.isEmpty { throw AdminError(400, "a JSON body is required") }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try dec.decode(T.self, from: Data(body))
        } catch let e as DecodingError {
            throw describe(e)
        } catch let e as AdminError {
            throw e
        } catch {
            throw AdminError(400, "invalid JSON: \(error)")
        }
    }

    static func path(_ p: [CodingKey]) -> String {
        p.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }

    static func snake(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }

    static func describe(_ e: DecodingError) -> AdminError {
        switch e {
        case .typeMismatch(let type, let c):
            let f = path(c.codingPath)
            return .invalid(f, "\(f.isEmpty ? "body" : f) must be \(describeType(type))")
        case .valueNotFound(let type, let c):
            let f = path(c.codingPath)
            return .invalid(f, "\(f) must be \(describeType(type)), not null")
        case .keyNotFound(let k, let c):
            let f = path(c.codingPath + [k])
            return .invalid(f, "\(f) is required")
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty { return AdminError(400, "the body is not valid JSON") }
            let f = path(c.codingPath)
            return .invalid(f, "\(f): \(c.debugDescription)")
        @unknown default:
            return AdminError(400, "invalid JSON")
        }
    }

    static func describeType(_ t: Any.Type) -> String {
        let n = "\(t)"
        if n.hasPrefix("Int") || n.hasPrefix("UInt") { return "an integer" }
        if n == "Double" || n == "Float" { return "a number" }
        if n == "Bool" { return "true or false" }
        if n == "String" { return "a string" }
        if n.hasPrefix("Array") { return "an array" }
        if n.hasPrefix("Dictionary") { return "an object" }
        return "a \(n)"
    }
}
