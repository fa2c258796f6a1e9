import Foundation
import Proxy

/// `ChannelInput` (API.md): the JSON body of a create or an update. Its fields are the
/// channel fields any input takes (`ChannelFile.fieldSpellings`: `api_key` or `api_keys`,
/// `url` or `urls`, `redirects` or `model_redirects`, …), turned into a channel by the one
/// decoder a channels file and a CSV import use (`ChannelFile.build`), then checked as
/// part of the whole table by the store before anything is written.
enum ChannelInput {
    /// A channels-file field (or a `ChannelTable` field) → the API's name for it, for
    /// errors about a field the body did not spell itself (missing, or from the stored
    /// channel).
    static func apiName(_ fileField: String?) -> String? {
        guard let f = fileField else { return nil }
        switch f {
        case "api_key", "keys", "api_keys": return "api_keys"
        case "channel_type": return "protocol"
        case "model_redirects": return "redirects"
        case "first_byte_timeout": return "first_byte_timeout_seconds"
        case "daily_cost_limit": return "daily_cost_limit_usd"
        default: return f
        }
    }

    /// The body as a JSON object, every field known.
    static func object(_ body: [UInt8]) throws(AdminError) -> [String: FieldValue] {
        if body.isEmpty { throw AdminError(400, "a JSON body is required") }
        let value: FieldValue
        do { value = try JSONDecoder().decode(FieldValue.self, from: Data(body)) } catch {
            throw AdminError(400, "the body is not valid JSON")
        }
        guard case .object(let o) = value else { throw AdminError(400, "the body must be a JSON object") }
        return o
    }

    /// The channel `input` describes: a new one (`stored` nil, id 0) or `stored` with the
    /// fields `input` gives changed (`null` clears an optional one).
    static func channel(_ input: [String: FieldValue], stored: Channel?) throws(AdminError) -> Channel {
        var changes: [String: FieldValue] = [:]
        for (name, value) in input.sorted(by: { $0.key < $1.key }) {
            switch ChannelFile.field(named: name) {
            case nil: throw AdminError.invalid(name, "unknown field \(name)")
            case "id": throw AdminError.invalid(name, "id: the store gives each channel its id; PUT /admin/channels/{id} names the one to change")
            case "api_key": changes[name] = try keys(name, value, stored: stored)
            default: changes[name] = value
            }
        }
        if stored == nil {
            for required in ["name", "protocol"]
            where !ChannelFile.spellings(required).contains(where: { input[$0] != nil && input[$0] != .null }) {
                throw AdminError.invalid(required, "\(required) is required")
            }
        }
        let base = stored.map(ChannelFile.fields(of:)) ?? [:]
        do {
            var c = try ChannelFile.build(ChannelFile.overlay(base, changes), position: stored?.id ?? 1)
            try ChannelSecrets.restore(&c, from: stored)
            c.id = stored?.id ?? 0
            return c
        } catch {
            throw invalid(error, spelledBy: input)
        }
    }

    /// The keys (`api_keys`, `api_key` or `keys`, spelled `name`): as any input gives them
    /// (a list, or one string of keys); as a list, on an update an element may be
    /// `{"keep": index}` for a stored key.
    static func keys(_ name: String, _ value: FieldValue, stored: Channel?) throws(AdminError) -> FieldValue {
        guard case .array(let items) = value else { return value }
        var out: [FieldValue] = []
        for (i, item) in items.enumerated() {
            switch item {
            case .string:
                out.append(item)
            case .object(let o) where o.count == 1:
                guard case .number(let d)? = o["keep"], d == d.rounded(), d >= 0 else {
                    throw AdminError.invalid("\(name)[\(i)]", "\(name)[\(i)] must be a key or {\"keep\": index}")
                }
                // Compared as a Double first: `Int(1e300)` would trap.
                guard let stored, d < Double(stored.keys.count) else {
                    throw AdminError.invalid("\(name)[\(i)]", "\(name)[\(i)]: there is no stored key \(ChannelCSV.number(d)) to keep")
                }
                out.append(.string(stored.keys[Int(d)].secret))
            default:
                throw AdminError.invalid("\(name)[\(i)]", "\(name)[\(i)] must be a key (a string) or {\"keep\": index}")
            }
        }
        return .array(out)
    }

    /// A field error naming the field as the body spelled it, else by the API's name.
    static func invalid(_ e: ChannelFile.FieldError, spelledBy input: [String: FieldValue]) -> AdminError {
        let field = e.field.map { input[$0] != nil ? $0 : apiName($0)! }
        return AdminError(400, field.map { "\($0): \(e.reason)" } ?? e.reason, field: field)
    }

    /// Why the table would be invalid, in the API's terms: a name in use is a conflict.
    static func invalid(_ e: ChannelTableError) -> AdminError {
        switch e {
        case .duplicateName(let n): return AdminError(409, "a channel named \"\(n)\" exists already", field: "name")
        case .duplicateID: return AdminError(409, e.description, field: "id")
        case .emptyName: return AdminError(400, e.description, field: "name")
        case .noURL, .badURL: return AdminError(400, e.description, field: "urls")
        case .noKey, .emptyKey, .keyIndexMismatch: return AdminError(400, e.description, field: "api_keys")
        case .badProxy: return AdminError(400, e.description, field: "proxy")
        case .badValue(_, let f, _): return AdminError(400, e.description, field: apiName(f))
        }
    }
}
