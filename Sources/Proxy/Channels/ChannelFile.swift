import Foundation
import TLS

/// Why a channels file was rejected (as a whole). The description names the JSON array
/// index or the CSV line, the channel (when the entry has a name) and the field.
public enum ChannelFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    /// Not a JSON array, not CSV, not UTF-8, or no channels at all.
    case format(String)
    /// `index` is the 0-based position in the JSON array; `channel` the entry's name.
    case json(index: Int, field: String?, reason: String, channel: String? = nil)
    /// `line` is the 1-based physical line where the CSV record starts (the header is line 1).
    case csv(line: Int, field: String?, reason: String, channel: String? = nil)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "channels file \(p): \(r)"
        case .format(let r): return "channels file: \(r)"
        case .json(let i, let f, let r, let c): return "channels file: entry [\(i)]" + Self.named(c, f) + ": \(r)"
        case .csv(let l, let f, let r, let c): return "channels file: line \(l)" + Self.named(c, f) + ": \(r)"
        }
    }

    private static func named(_ channel: String?, _ field: String?) -> String {
        (channel.map { " (channel \"\(ChannelFieldRules.visible($0))\")" } ?? "") + (field.map { ", field \"\($0)\"" } ?? "")
    }
}

/// Reads channels from `CCLOAD_CHANNELS_FILE` at start-up and on SIGHUP: a JSON array of
/// channel objects, or CSV in ccLoad's export format (`name,api_key,url,priority,models,
/// enabled`, optional `channel_type`/`protocol` and the other JSON field names as columns;
/// English or Chinese headers; UTF-8 with or without a BOM). Off the hot path.
///
/// JSON fields: `id`, `name`, `protocol` (or `channel_type`: anthropic, openai, codex,
/// gemini), `url` or `urls`, `api_key`, `api_keys` or `keys` (a list, or one string split on
/// commas and newlines), `key_strategy` (sequential, round_robin), `priority`, `weight`,
/// `models` (a list or a comma-separated string; empty = any), `model_redirects` (object),
/// `enabled`, `proxy`, `first_byte_timeout` (seconds), `cost_multiplier`, `daily_cost_limit`
/// (USD; 0 = none), `max_concurrency` (0 = none), `insecure_skip_verify`. An unknown JSON
/// field is an error (a typo would otherwise be silently ignored); unknown CSV columns are
/// ignored (ccLoad exports many this relay has no use for). Absent ids are the 1-based
/// position in the file.
public enum ChannelFile {
    public static func load(path: String) throws(ChannelFileError) -> [Channel] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file")
        }
        return try parse([UInt8](data))
    }

    /// Parses a file's bytes: JSON when the first non-blank character is `[`, else CSV.
    /// The first bad entry rejects the whole file.
    public static func parse(_ bytes: [UInt8]) throws(ChannelFileError) -> [Channel] {
        var channels: [Channel] = []
        var seen = Seen()
        for row in try rows(bytes) {
            do throws(FieldError) {
                if let problem = row.problem { throw problem }
                let c = try build(row.fields, position: row.row)
                try seen.check(c)
                channels.append(c)
            } catch {
                throw row.error(error)
            }
        }
        return channels
    }

    /// The entries of a file's bytes as field maps, before any becomes a channel (for an
    /// import that reports each row). Throws only when the file as a whole cannot be read
    /// (not UTF-8, not JSON, a bad CSV header, a quote left open).
    public static func rows(_ bytes: [UInt8]) throws(ChannelFileError) -> [ChannelFileRow] {
        var b = bytes[...]
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { b = b.dropFirst(3) }
        guard let first = b.first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) else {
            throw .format("the file is empty")
        }
        if first == UInt8(ascii: "[") { return try jsonRows(Data(b)) }
        if first == UInt8(ascii: "{") { throw .format("expected a JSON array of channels, found an object") }
        return try csvRows(Array(b))
    }

    // MARK: - JSON

    static let jsonFields: Set<String> = [
        "id", "name", "protocol", "channel_type", "url", "urls", "api_key", "api_keys", "keys", "key_strategy",
        "priority", "weight", "models", "model_redirects", "enabled", "proxy", "first_byte_timeout",
        "cost_multiplier", "daily_cost_limit", "max_concurrency", "insecure_skip_verify",
    ]

    static func jsonRows(_ data: Data) throws(ChannelFileError) -> [ChannelFileRow] {
        let root: FieldValue
        do {
            root = try JSONDecoder().decode(FieldValue.self, from: data)
        } catch {
            throw .format("not valid JSON: \(Self.describe(error))")
        }
        guard case .array(let items) = root else { throw .format("expected a JSON array of channels") }
        return items.enumerated().map { i, item in
            var row = ChannelFileRow(row: i + 1, line: nil, fields: [:])
            guard case .object(let fields) = item else {
                row.problem = FieldError(field: nil, reason: "not an object")
                return row
            }
            row.fields = fields
            if let unknown = fields.keys.sorted().first(where: { !jsonFields.contains($0) }) {
                row.problem = FieldError(field: unknown, reason: "unknown field")
            }
            return row
        }
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error {
            if let u = ctx.underlyingError { return "\(u)" }
            return ctx.debugDescription
        }
        return "\(error)"
    }

    // MARK: - CSV

    /// Accepted header spellings (after trimming and lower-casing) → field name.
    static let csvColumns: [String: String] = {
        var m: [String: String] = [:]
        func add(_ field: String, _ names: [String]) {
            m[field] = field
            for n in names { m[n] = field }
        }
        add("id", ["编号", "渠道id"])
        add("name", ["channel_name", "名称", "渠道名称", "渠道名"])
        add("api_key", ["api_keys", "apikey", "api-key", "api key", "key", "keys", "api密钥", "密钥", "api key(s)"])
        add("url", ["urls", "base_url", "地址", "url地址", "接口地址", "渠道地址"])
        add("priority", ["优先级"])
        add("models", ["model", "model_list", "model(s)", "模型", "模型列表", "支持模型"])
        add("enabled", ["status", "启用", "状态", "是否启用"])
        add("protocol", ["channel_type", "type", "协议", "渠道类型", "类型"])
        add("key_strategy", ["key-strategy", "keystrategy", "策略", "使用策略", "key策略"])
        add("model_redirects", ["model_redirect", "model-redirects", "modelredirects", "redirects", "模型重定向"])
        add("weight", ["权重"])
        add("proxy", ["代理"])
        add("first_byte_timeout", ["首字节超时"])
        add("cost_multiplier", ["倍率", "成本倍率"])
        add("daily_cost_limit", ["每日费用上限", "日费用上限"])
        add("max_concurrency", ["max-concurrency", "maxconcurrency", "concurrency", "并发", "最大并发"])
        add("insecure_skip_verify", ["跳过证书验证"])
        return m
    }()

    static func csvRows(_ bytes: [UInt8]) throws(ChannelFileError) -> [ChannelFileRow] {
        let records = try CSVReader.records(bytes)
        guard let header = records.first else { throw .format("the file is empty") }
        var columns: [Int: String] = [:]  // column → field
        var fieldColumn: [String: Int] = [:]
        for (i, raw) in header.cells.enumerated() {
            guard let cell = String(validating: raw, as: UTF8.self) else {
                throw .csv(line: header.line, field: nil, reason: "header is not UTF-8")
            }
            let norm = cell.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            guard !norm.isEmpty, let field = csvColumns[norm] else { continue }
            if fieldColumn[field] != nil {
                throw .csv(line: header.line, field: field, reason: "column given twice (\"\(cell)\")")
            }
            fieldColumn[field] = i
            columns[i] = field
        }
        for required in ["name", "api_key", "url"] where fieldColumn[required] == nil {
            throw .csv(line: header.line, field: required, reason: "missing column")
        }
        var rows: [ChannelFileRow] = []
        for record in records.dropFirst() {
            if record.cells.allSatisfy({ $0.allSatisfy { $0 == 0x20 || $0 == 0x09 } }) { continue }
            var row = ChannelFileRow(row: rows.count + 1, line: record.line, fields: [:])
            // Every known column is present; an empty cell is `.null` (absent to `build`,
            // "clear it" to `overlay`).
            for field in columns.values { row.fields[field] = .null }
            for (i, raw) in record.cells.enumerated() {
                guard let field = columns[i] else {
                    if i >= header.cells.count, raw.contains(where: { $0 != 0x20 && $0 != 0x09 }) {
                        row.problem = row.problem
                            ?? FieldError(field: nil, reason: "\(record.cells.count) fields, the header has \(header.cells.count)")
                    }
                    continue
                }
                guard let s = String(validating: raw, as: UTF8.self) else {
                    row.problem = row.problem ?? FieldError(field: field, reason: "not UTF-8")
                    continue
                }
                let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                // A cell the export guarded against formula injection (`'=…`) reads as it was.
                if !t.isEmpty { row.fields[field] = .string(CSVFormula.restored(t)) }
            }
            rows.append(row)
        }
        return rows
    }

    // MARK: - Fields → Channel

    /// Why one entry cannot become a channel: the field to blame (in the file's names) and why.
    public struct FieldError: Error, Sendable, Equatable {
        public var field: String?
        public var reason: String

        public init(field: String?, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    /// Duplicate names and ids across the file.
    public struct Seen: Sendable {
        var names = Set<String>()
        var ids = Set<Int>()

        public init() {}

        /// Notes `c`, or throws when its name (or id) came before. Id 0 is a channel still
        /// to be created (an import's new rows): the store gives each its own id.
        public mutating func check(_ c: Channel) throws(FieldError) {
            guard names.insert(c.name).inserted else { throw FieldError(field: "name", reason: "\"\(c.name)\" is used twice") }
            guard c.id == 0 || ids.insert(c.id).inserted else { throw FieldError(field: "id", reason: "\(c.id) is used twice") }
        }
    }

    /// A channel from one entry's fields (file names: `api_key`, `model_redirects`,
    /// `first_byte_timeout`, …; `.null` counts as absent). Its id is the `id` field, else
    /// `position`.
    public static func build(_ f: [String: FieldValue], position: Int) throws(FieldError) -> Channel {
        func one(_ names: String...) throws(FieldError) -> (String, FieldValue)? {
            var found: (String, FieldValue)?
            for n in names {
                guard let v = f[n], v != .null else { continue }
                if let (prev, _) = found { throw FieldError(field: n, reason: "given together with \"\(prev)\"") }
                found = (n, v)
            }
            return found
        }
        func string(_ name: String) throws(FieldError) -> String? {
            guard let (n, v) = try one(name) else { return nil }
            guard case .string(let s) = v else { throw FieldError(field: n, reason: "must be a string") }
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            return t.isEmpty ? nil : t
        }
        func number(_ name: String) throws(FieldError) -> Double? {
            guard let (n, v) = try one(name) else { return nil }
            switch v {
            case .number(let d): return d
            case .string(let s):
                guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite else {
                    throw FieldError(field: n, reason: "not a number: \"\(s)\"")
                }
                return d
            default: throw FieldError(field: n, reason: "must be a number")
            }
        }
        func integer(_ name: String) throws(FieldError) -> Int? {
            guard let d = try number(name) else { return nil }
            guard d == d.rounded(), abs(d) < 1e15 else { throw FieldError(field: name, reason: "not an integer: \(d)") }
            return Int(d)
        }
        func bool(_ name: String) throws(FieldError) -> Bool? {
            guard let (n, v) = try one(name) else { return nil }
            switch v {
            case .bool(let b): return b
            case .number(let d) where d == 0 || d == 1: return d == 1
            case .string(let s):
                switch s.trimmingCharacters(in: .whitespaces).lowercased() {
                case "true", "1", "yes", "y", "on", "enabled", "enable", "启用", "是", "开启": return true
                case "false", "0", "no", "n", "off", "disabled", "disable", "禁用", "否", "关闭": return false
                default: throw FieldError(field: n, reason: "not a boolean: \"\(s)\"")
                }
            default: throw FieldError(field: n, reason: "must be true or false")
            }
        }
        /// A list: an array of strings, a JSON array in a string, or a string split on
        /// commas and newlines (and, for URLs, spaces).
        func list(_ names: String..., splitSpaces: Bool = false) throws(FieldError) -> (String, [String])? {
            var found: (String, FieldValue)?
            for n in names {
                guard let v = f[n], v != .null else { continue }
                if let (prev, _) = found { throw FieldError(field: n, reason: "given together with \"\(prev)\"") }
                found = (n, v)
            }
            guard let (n, v) = found else { return nil }
            var items: [String]
            switch v {
            case .array(let a):
                items = []
                for e in a {
                    guard case .string(let s) = e else { throw FieldError(field: n, reason: "must be a list of strings") }
                    items.append(s)
                }
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                if t.hasPrefix("["), let a = try? JSONDecoder().decode([String].self, from: Data(t.utf8)) {
                    items = a
                } else {
                    // Split on scalars: "\r\n" (one Character) and a separator followed by a
                    // combining mark must still separate.
                    items = t.unicodeScalars.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r" || $0 == ";"
                        || (splitSpaces && ($0 == " " || $0 == "\t")) }).map { String(String.UnicodeScalarView($0)) }
                }
            default:
                throw FieldError(field: n, reason: "must be a list or a comma-separated string")
            }
            return (n, items.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty })
        }

        guard let name = try string("name") else { throw FieldError(field: "name", reason: "missing") }
        if let why = ChannelFieldRules.name(name) { throw FieldError(field: "name", reason: why) }
        let id = try integer("id") ?? position
        guard id > 0 else { throw FieldError(field: "id", reason: "must be positive") }

        var kind = ProtocolKind.anthropic
        if let (n, v) = try one("protocol", "channel_type") {
            guard case .string(let s) = v else { throw FieldError(field: n, reason: "must be a string") }
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "", "anthropic", "claude": kind = .anthropic
            case "openai", "openai_chat", "chat": kind = .openai
            case "codex", "responses": kind = .codex
            case "gemini", "google": kind = .gemini
            default: throw FieldError(field: n, reason: "unknown protocol \"\(s)\" (anthropic, openai, codex, gemini)")
            }
        }

        guard let (urlField, urls) = try list("url", "urls", splitSpaces: true), !urls.isEmpty else {
            throw FieldError(field: "url", reason: "missing")
        }
        var proxy: EgressProxy?
        let proxyURL = try string("proxy")
        if let p = proxyURL {
            if let why = ChannelFieldRules.proxy(p) { throw FieldError(field: "proxy", reason: why) }
            guard let e = EgressProxy(url: p) else {
                throw FieldError(field: "proxy", reason: "\"\(p)\" is not http:// or socks5://[user:pass@]host[:port]")
            }
            proxy = e
        }
        for u in urls {
            if let why = ChannelFieldRules.url(u) {
                throw FieldError(field: urlField, reason: "\"\(ChannelFieldRules.visible(u))\" \(why)")
            }
        }
        for u in urls where UpstreamTarget(url: u, proxy: proxy) == nil {
            throw FieldError(field: urlField, reason: "\"\(u)\" is not http(s)://host[:port][/prefix]")
        }

        guard let (keyField, secrets) = try list("api_key", "api_keys", "keys") else {
            throw FieldError(field: "api_key", reason: "missing")
        }
        guard !secrets.isEmpty else { throw FieldError(field: keyField, reason: "no key") }
        for (i, k) in secrets.enumerated() {
            if let why = ChannelFieldRules.key(k) { throw FieldError(field: keyField, reason: "key \(i + 1) \(why)") }
        }

        var c = Channel(id: id, name: name, kind: kind, urls: urls,
                        keys: secrets.enumerated().map { ChannelKey(index: $0.offset, secret: $0.element) })

        if let s = try string("key_strategy") {
            switch s.lowercased() {
            case "sequential", "seq", "顺序": c.keyStrategy = .sequential
            case "round_robin", "round-robin", "roundrobin", "rr", "轮询": c.keyStrategy = .roundRobin
            default: throw FieldError(field: "key_strategy", reason: "unknown strategy \"\(s)\" (sequential, round_robin)")
            }
        }
        c.priority = try integer("priority") ?? 0
        guard (-maxPriority...maxPriority).contains(c.priority) else {
            throw FieldError(field: "priority", reason: "must be between -\(maxPriority) and \(maxPriority)")
        }
        if let w = try integer("weight") {
            guard (1...maxWeight).contains(w) else { throw FieldError(field: "weight", reason: "must be between 1 and \(maxWeight)") }
            c.weight = w
        }
        if let (_, models) = try list("models") {
            guard models.count <= ChannelFieldRules.maxModels else {
                throw FieldError(field: "models", reason: "at most \(ChannelFieldRules.maxModels) models")
            }
            for m in models {
                if let why = ChannelFieldRules.model(m, kind: kind) { throw FieldError(field: "models", reason: why) }
            }
            c.models = models
        }
        if let (n, v) = try one("model_redirects") {
            var object: [String: FieldValue]
            switch v {
            case .object(let o): object = o
            case .string(let s):
                guard let o = try? JSONDecoder().decode([String: FieldValue].self, from: Data(s.utf8)) else {
                    throw FieldError(field: n, reason: "not a JSON object of model names")
                }
                object = o
            default: throw FieldError(field: n, reason: "must be an object of model names")
            }
            guard object.count <= ChannelFieldRules.maxModels else {
                throw FieldError(field: n, reason: "at most \(ChannelFieldRules.maxModels) redirects")
            }
            for (from, to) in object.sorted(by: { $0.key < $1.key }) {
                guard case .string(let t) = to, !t.isEmpty, !from.isEmpty else {
                    throw FieldError(field: n, reason: "\"\(ChannelFieldRules.visible(from))\" must map to a model name")
                }
                for m in [from, t] {
                    if let why = ChannelFieldRules.model(m, kind: kind) { throw FieldError(field: n, reason: why) }
                }
                c.redirects[from] = t
            }
        }
        c.enabled = try bool("enabled") ?? true
        c.proxy = proxyURL
        if let t = try number("first_byte_timeout") {
            guard t > 0 else { throw FieldError(field: "first_byte_timeout", reason: "must be positive (seconds)") }
            c.firstByteTimeoutSeconds = t
        }
        if let m = try number("cost_multiplier") {
            guard m >= 0 else { throw FieldError(field: "cost_multiplier", reason: "must be ≥ 0") }
            c.costMultiplier = m
        }
        if let l = try number("daily_cost_limit") {
            guard l >= 0 else { throw FieldError(field: "daily_cost_limit", reason: "must be ≥ 0") }
            c.dailyCostLimitUSD = l > 0 ? l : nil
        }
        if let m = try integer("max_concurrency") {
            guard m >= 0 else { throw FieldError(field: "max_concurrency", reason: "must be ≥ 0") }
            c.maxConcurrency = m > 0 ? m : nil
        }
        c.insecureSkipVerify = try bool("insecure_skip_verify") ?? false
        if let (field, why) = ChannelFieldRules.numbers(c) { throw FieldError(field: field, reason: why) }
        return c
    }
}

/// One entry of a channels file before it becomes a channel.
public struct ChannelFileRow: Sendable {
    /// 1-based position among the entries (blank CSV lines do not count).
    public var row: Int
    /// CSV: the physical line the record starts on (the header is line 1). JSON: nil.
    public var line: Int?
    /// By file field name (CSV columns mapped to them). In CSV every known column is
    /// present, an empty cell as `.null`.
    public var fields: [String: FieldValue]
    /// Why the entry could not even be read into fields (not an object, an unknown JSON
    /// field, a cell that is not UTF-8, more cells than the header).
    public var problem: ChannelFile.FieldError?

    public init(row: Int, line: Int?, fields: [String: FieldValue], problem: ChannelFile.FieldError? = nil) {
        self.row = row
        self.line = line
        self.fields = fields
        self.problem = problem
    }

    /// `e` as the file error that names this entry.
    public func error(_ e: ChannelFile.FieldError) -> ChannelFileError {
        var name: String?
        if case .string(let n)? = fields["name"] {
            let t = n.trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty { name = t }
        }
        if let line { return .csv(line: line, field: e.field, reason: e.reason, channel: name) }
        return .json(index: row - 1, field: e.field, reason: e.reason, channel: name)
    }
}

extension ChannelFile {
    static let maxPriority = 1_000_000_000
    static let maxWeight = 1_000_000

    /// Field names that mean the same thing (only one of a group may be given).
    static let aliases: [[String]] = [["protocol", "channel_type"], ["url", "urls"], ["api_key", "api_keys", "keys"]]

    /// `changes` laid over `base`: a field in `changes` replaces its value in `base`
    /// (and any alias of it); `.null` clears it. For partial updates of a stored channel.
    public static func overlay(_ base: [String: FieldValue], _ changes: [String: FieldValue]) -> [String: FieldValue] {
        var out = base
        for (name, value) in changes {
            for group in aliases where group.contains(name) {
                for alias in group { out[alias] = nil }
            }
            out[name] = value
        }
        return out
    }

    /// A channel as fields `build` turns back into the same channel.
    public static func fields(of c: Channel) -> [String: FieldValue] {
        var f: [String: FieldValue] = [
            "id": .number(Double(c.id)), "name": .string(c.name), "protocol": .string(c.kind.rawValue),
            "urls": .array(c.urls.map { .string($0) }), "api_keys": .array(c.keys.map { .string($0.secret) }),
            "key_strategy": .string(c.keyStrategy.rawValue), "priority": .number(Double(c.priority)),
            "models": .array(c.models.map { .string($0) }),
            "model_redirects": .object(c.redirects.mapValues { .string($0) }), "enabled": .bool(c.enabled),
            "cost_multiplier": .number(c.costMultiplier), "insecure_skip_verify": .bool(c.insecureSkipVerify),
        ]
        if let w = c.weight { f["weight"] = .number(Double(w)) }
        if let p = c.proxy { f["proxy"] = .string(p) }
        if let t = c.firstByteTimeoutSeconds { f["first_byte_timeout"] = .number(t) }
        if let l = c.dailyCostLimitUSD { f["daily_cost_limit"] = .number(l) }
        if let m = c.maxConcurrency { f["max_concurrency"] = .number(Double(m)) }
        return f
    }
}

/// A JSON value, or a CSV cell (`.string`, or `.null` when empty).
public enum FieldValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([FieldValue])
    case object([String: FieldValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([FieldValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: FieldValue].self))
        }
    }
}

/// RFC 4180 records with the line each starts on: quoted fields may hold commas, newlines and
/// doubled quotes; CRLF or LF ends a record.
enum CSVReader {
    struct Record {
        var line: Int
        var cells: [[UInt8]]
    }

    static func records(_ b: [UInt8]) throws(ChannelFileError) -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr: UInt8 = 0x0D, lf: UInt8 = 0x0A
        var out: [Record] = []
        var line = 1
        var i = 0
        let n = b.count
        while i < n {
            let start = line
            var cells: [[UInt8]] = []
            var cell: [UInt8] = []
            var endOfRecord = false
            while !endOfRecord {
                if i < n && b[i] == quote {
                    // Quoted field.
                    i += 1
                    while true {
                        guard i < n else { throw .csv(line: start, field: nil, reason: "unterminated quoted field") }
                        let c = b[i]
                        if c == quote {
                            if i + 1 < n && b[i + 1] == quote {
                                cell.append(quote)
                                i += 2
                                continue
                            }
                            i += 1
                            break
                        }
                        if c == lf { line += 1 }
                        cell.append(c)
                        i += 1
                    }
                    guard i == n || b[i] == comma || b[i] == lf || b[i] == cr else {
                        throw .csv(line: line, field: nil, reason: "text after a closing quote")
                    }
                } else {
                    while i < n && b[i] != comma && b[i] != lf && b[i] != cr {
                        if b[i] == quote { throw .csv(line: line, field: nil, reason: "quote inside an unquoted field") }
                        cell.append(b[i])
                        i += 1
                    }
                }
                cells.append(cell)
                cell = []
                if i < n && b[i] == comma {
                    i += 1
                } else {
                    if i < n && b[i] == cr { i += 1 }
                    if i < n && b[i] == lf { i += 1 }
                    line += 1
                    endOfRecord = true
                }
            }
            out.append(Record(line: start, cells: cells))
        }
        return out
    }
}
