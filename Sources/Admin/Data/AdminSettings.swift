import Foundation
import Proxy
import Reactor

/// `/admin/settings`: the live settings of `SettingsCatalog`. A change is checked whole
/// (types, ranges, and the rules between settings), stored in one transaction, then
/// applied to every loop (`ControlPlane.reloadSettings`) before the answer goes out.
enum AdminSettings {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/settings", .admin, list),
        AdminRoute("PUT", "/admin/settings", .admin, update),
        AdminRoute("DELETE", "/admin/settings/{key}", .admin, reset),
        AdminRoute("GET", "/admin/jobs", .admin, jobs),
    ]

    struct JobView: Encodable, Sendable {
        let name: String
        let summary: String
        let lastRunMs: OrNull<UInt64>
        let outcome: OrNull<String>
        let detail: OrNull<String>
        let runs: UInt64
        let nextRunMs: OrNull<UInt64>

        init(_ j: JobStatus) {
            name = j.name
            summary = j.summary
            lastRunMs = OrNull(j.lastRunMillis)
            outcome = OrNull(j.outcome)
            detail = OrNull(j.detail)
            runs = j.runs
            nextRunMs = OrNull(j.nextRunMillis)
        }
    }

    struct JobsReply: Encodable, Sendable {
        /// `CCLOAD_TZ` as in force: the zone whose midnight resets the daily counters.
        let timeZone: String
        let data: [JobView]
    }

    /// `GET /admin/jobs`: the scheduled jobs (daily reset, retention), each with its last
    /// run and outcome and when it runs next. From memory: no disk.
    static func jobs(_ call: AdminCall) {
        let shared = call.context.shared
        var list = [shared.dailyReset.status]
        if let store = shared.store { list.append(store.writer.retentionStatus()) }
        call.json(JobsReply(timeZone: shared.dailyReset.calendar.zoneID, data: list.map(JobView.init)))
    }

    /// A setting's value as JSON: a number, true/false or a string, by its type.
    enum Value: Encodable, Sendable {
        case int(Int), double(Double), bool(Bool), string(String)

        init(_ text: String, _ type: SettingType) {
            switch type {
            case .int: self = Int(text).map(Value.int) ?? .string(text)
            case .double: self = Double(text).map(Value.double) ?? .string(text)
            case .bool: self = text == "true" ? .bool(true) : text == "false" ? .bool(false) : .string(text)
            case .string: self = .string(text)
            }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            case .double(let v): try c.encode(v)
            case .bool(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            }
        }
    }

    struct SettingView: Encodable, Sendable {
        let key: String
        let type: String
        let value: Value
        let `default`: Value
        /// The catalog's help text.
        let summary: String
        let min: OrNull<Double>
        let max: OrNull<Double>
        /// `seconds`, `days`, `hours`, `bytes`, or "" for a plain number or a bool.
        let unit: String
        /// Applied at once when changed (every setting listed here is).
        let live: Bool
        /// The environment variable and the flag that give it at start-up (written over the
        /// stored value then), or null.
        let env: OrNull<String>
        let flag: OrNull<String>

        init(_ def: SettingDefinition, _ value: String) {
            key = def.key
            type = def.type.rawValue
            self.value = Value(value, def.type)
            self.default = Value(def.defaultValue, def.type)
            summary = def.plainSummary
            min = OrNull(def.minimum)
            max = OrNull(def.maximum)
            unit = def.unit.rawValue
            live = def.live
            env = OrNull(def.environment)
            flag = OrNull(def.flag.map { "--" + $0 })
        }
    }

    struct Reply: Encodable, Sendable { let data: [SettingView] }

    /// A value as sent: JSON true/false, a number or a string.
    enum Input: Decodable, Sendable {
        case null, bool(Bool), int(Int64), double(Double), string(String), other

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let i = try? c.decode(Int64.self) {
                self = .int(i)
            } else if let d = try? c.decode(Double.self) { self = .double(d) } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else { self = .other }
        }

        /// The stored text for a setting of type `type`, or a 400 naming `key`.
        func text(for type: SettingType, key: String) throws(AdminError) -> String {
            switch (self, type) {
            case (.null, _):
                throw AdminError.invalid(key, "\(key) must not be null (DELETE /admin/settings/\(key) restores the default)")
            case (.int(let i), .int): return String(i)
            case (.int(let i), .double): return String(i)
            case (.double(let d), .double): return String(d)
            case (.bool(let b), .bool): return b ? "true" : "false"
            case (.string(let s), _):
                if s.unicodeScalars.contains(where: ChannelFieldRules.isControl) {
                    throw AdminError.invalid(key, "\(key) must not hold control characters")
                }
                return s
            default:
                let want = type == .int ? "an integer" : type == .double ? "a number" : type == .bool ? "true or false" : "a string"
                throw AdminError.invalid(key, "\(key) must be \(want)")
            }
        }
    }

    static func list(_ call: AdminCall) {
        call.blockingJSON { ctx in try view(ctx.store.settings()) }
    }

    static func view(_ values: [String: String]) -> Reply {
        Reply(data: SettingsCatalog.all.map { SettingView($0, shown($0.key, values[$0.key] ?? $0.defaultValue)) })
    }

    /// A setting's value as answers show it: the webhook URLs (secrets) masked.
    static func shown(_ key: String, _ value: String) -> String {
        key == "webhooks" ? WebhookList.masked(value) : value
    }

    /// `{"key": value, …}`: all valid → stored and applied; else 400 naming the first bad key.
    static func update(_ call: AdminCall) {
        var changes: [String: String] = [:]
        do throws(AdminError) {
            let body: [String: Input]
            do {
                // A plain decoder: settings keys are used as they are.
                body = try JSONDecoder().decode([String: Input].self, from: Data(call.body))
            } catch {
                throw AdminError(400, "the body must be a JSON object of setting keys and values")
            }
            if body.isEmpty { throw AdminError(400, "name at least one setting to change") }
            for (key, input) in body.sorted(by: { $0.key < $1.key }) {
                guard let def = SettingsCatalog.definition(key) else {
                    throw AdminError.invalid(key, "unknown setting \(key)")
                }
                let text = try input.text(for: def.type, key: key)
                if let why = SettingsCatalog.problem(text, def) { throw AdminError.invalid(key, "\(key) \(why)") }
                changes[key] = text
            }
        } catch {
            return call.fail(error)
        }
        let values = changes
        call.blockingJSON { ctx in
            var merged = try ctx.store.settings()
            var values = values
            // Masked webhooks sent back (a form saved whole) keep the stored URLs they mask.
            if let w = values["webhooks"] {
                switch WebhookList.unmask(w, stored: merged["webhooks"] ?? "") {
                case .success(let text): values["webhooks"] = text
                case .failure(let e): throw AdminError(400, "setting webhooks: \(e)", field: "webhooks")
                }
            }
            merged.merge(values) { _, new in new }
            try check(merged, changed: Array(values.keys))
            try ctx.store.setSettings(values)
            try ctx.control.reloadSettings()
            return view(try ctx.store.settings())
        }
    }

    /// `DELETE /admin/settings/{key}`: the default applies again.
    static func reset(_ call: AdminCall) {
        let key = call.params["key"] ?? ""
        guard let def = SettingsCatalog.definition(key) else { return call.fail(404, "no setting \(key)") }
        call.blockingJSON { ctx in
            var merged = try ctx.store.settings()
            merged[key] = def.defaultValue
            try check(merged, changed: [key])
            try ctx.store.resetSetting(key)
            try ctx.control.reloadSettings()
            return SettingView(def, shown(key, def.defaultValue))
        }
    }

    /// Whether the settings hold together (e.g. the shortest cooldown is not longer than
    /// the longest); a 400 naming the setting to blame (one of `changed` when it can).
    static func check(_ values: [String: String], changed: [String]) throws(AdminError) {
        do {
            _ = try RuntimeSettings(values: values)
        } catch {
            let named = SettingsCatalog.all.map(\.key).filter { error.message.contains($0) }
            let field = named.first { changed.contains($0) } ?? named.first
            throw AdminError(400, error.message, field: field)
        }
    }
}
