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
/// `models` (a list or a comma-separated string; empty = any), `model_redirects` or
/// `redirects` (object), `enabled`, `proxy`, `first_byte_timeout` or
/// `first_byte_timeout_seconds` (seconds), `cost_multiplier`, `daily_cost_limit` or
/// `daily_cost_limit_usd` (USD; 0 = none), `max_concurrency` (0 = none),
/// `insecure_skip_verify`: the same spellings the admin API and a CSV header accept
/// (`fieldSpellings`, read by the one decoder `build`). An unknown JSON
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
            if let unknown = fields.keys.sorted().first(where: { field(named: $0) == nil }) {
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

    /// Accepted header spellings (after trimming and lower-casing) → field name: every
    /// spelling a JSON entry or the admin API accepts (`fieldSpellings`), and the header
    /// names of ccLoad's and spreadsheets' exports.
    static let csvColumns: [String: String] = {
        var m: [String: String] = [:]
        for (field, aliases) in fieldSpellings {
            m[field] = field
            for a in aliases { m[a] = field }
        }
        func add(_ field: String, _ names: [String]) {
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
        add("probe_interval_s", ["probe_interval", "探测间隔"])
        add("probe_model", ["探测模型"])
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
