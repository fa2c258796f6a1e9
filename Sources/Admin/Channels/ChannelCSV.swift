import Foundation
import Proxy
import Reactor

/// `GET /admin/channels/export` and `POST /admin/channels/import`: channels as CSV in
/// ccLoad's column order (`name,api_key,url,priority,models,enabled`) followed by
/// ccload's own columns, keys and proxy passwords masked, cells a spreadsheet would run as
/// a formula prefixed with `'` (`CSVFormula`; the import takes it off again). An import reads what
/// `ChannelFile` reads (CSV with English or Chinese headers, with or without a BOM, or a
/// JSON array), reports every row, and applies the valid rows in one transaction: a row
/// whose name exists updates that channel (columns the file lacks keep their values; a
/// masked key or proxy keeps the stored one), another creates one.
enum ChannelCSV {
    /// Bodies above this are refused (413).
    static let maxImportBytes = 10 * 1024 * 1024
    /// Files with more rows than this are refused whole (400).
    static let maxImportRows = 10_000

    static let columns = [
        "name", "api_key", "url", "priority", "models", "enabled", "protocol", "key_strategy", "weight",
        "model_redirects", "proxy", "first_byte_timeout", "cost_multiplier", "daily_cost_limit", "max_concurrency",
        "insecure_skip_verify", "probe_interval_s", "probe_model",
    ]

    // MARK: export

    /// The export file: a BOM (so spreadsheets read UTF-8), the header, a row per channel with
    /// formula cells neutralised.
    static func document(_ channels: [Channel]) -> [UInt8] {
        var out: [UInt8] = [0xEF, 0xBB, 0xBF]
        out += Array((columns.joined(separator: ",") + "\r\n").utf8)
        for c in channels {
            out += Array((row(c).map { quote(CSVFormula.neutralised($0)) }.joined(separator: ",") + "\r\n").utf8)
        }
        return out
    }

    static func export(_ call: AdminCall) {
        let out = document(AdminChannels.live(call).sorted { $0.id < $1.id })
        call.respond(contentType: "text/csv; charset=utf-8",
                     headers: [("Content-Disposition", "attachment; filename=\"ccload-channels.csv\"")], body: out)
    }

    /// One channel's cells, in `columns` order, secrets masked.
    static func row(_ c: Channel) -> [String] {
        let redirects: String
        if c.redirects.isEmpty {
            redirects = ""
        } else {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            redirects = (try? enc.encode(c.redirects)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return [
            c.name, c.keys.map(\.masked).joined(separator: ","), c.urls.joined(separator: ","), String(c.priority),
            c.models.joined(separator: ","), String(c.enabled), c.kind.rawValue, c.keyStrategy.rawValue,
            c.weight.map(String.init) ?? "", redirects, c.proxy.map(ChannelSecrets.maskProxy) ?? "",
            c.firstByteTimeoutSeconds.map(number) ?? "", number(c.costMultiplier), c.dailyCostLimitUSD.map(number) ?? "",
            c.maxConcurrency.map(String.init) ?? "", String(c.insecureSkipVerify),
            c.probeIntervalSeconds.map(String.init) ?? "", c.probeModel ?? "",
        ]
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// RFC 4180: a cell with a comma, quote, line break or edge space is quoted, quotes doubled.
    /// Decided on bytes, not Characters: "\r\n" is one Character equal to neither "\r" nor
    /// "\n", and a quote followed by a combining mark is not "\"" either.
    static func quote(_ cell: String) -> String {
        let u = cell.utf8
        let special = u.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D } || u.first == 0x20 || u.last == 0x20
        guard special else { return cell }
        var out: [UInt8] = [0x22]
        for b in u {
            out.append(b)
            if b == 0x22 { out.append(0x22) }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: import

    struct RowResult: Encodable, Sendable {
        let row: Int
        let line: Int?
        let name: String?
        let result: String
        let field: String?
        let error: String?
    }

    struct Report: Encodable, Sendable {
        let created: Int
        let updated: Int
        let failed: Int
        let rows: [RowResult]
    }

    static func importCSV(_ call: AdminCall) {
        guard call.body.count <= maxImportBytes else {
            return call.fail(AdminError(413, "the import is \(call.body.count) bytes; at most \(maxImportBytes) are taken"))
        }
        let body = call.body
        let contentType = call.header("content-type")
        // Parsing up to 10 MB is not work for a reactor thread: it runs on the store thread too.
        call.blockingJSON { ctx in try apply(try rows(of: body, contentType: contentType), ctx) }
    }

    /// The rows of the uploaded file, or why it cannot be read as a whole.
    static func rows(of body: [UInt8], contentType: String?) throws(AdminError) -> [ChannelFileRow] {
        let file = try fileBytes(body, contentType: contentType)
        let rows: [ChannelFileRow]
        do { rows = try ChannelFile.rows(file) } catch {
            throw AdminError(400, "the file cannot be read: \(reason(error))")
        }
        guard !rows.isEmpty else { throw AdminError(400, "the file holds no channels") }
        guard rows.count <= maxImportRows else {
            throw AdminError(400, "the file holds \(rows.count) rows; at most \(maxImportRows) are taken")
        }
        return rows
    }

    /// Checks every row against the stored channels and writes the valid ones in one
    /// transaction (store thread).
    static func apply(_ rows: [ChannelFileRow], _ ctx: AdminContext) throws -> Report {
        var results: [RowResult] = []
        do {
            try ctx.store.editChannels { current in
                let byName = Dictionary(current.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                var seen = ChannelFile.Seen()
                var upserts: [Channel] = []
                for row in rows {
                    var name: String?
                    if case .string(let n)? = row.fields["name"] { name = n.trimmingCharacters(in: .whitespacesAndNewlines) }
                    do throws(ChannelFile.FieldError) {
                        if let problem = row.problem { throw problem }
                        var fields = row.fields
                        fields["id"] = nil
                        let stored = name.flatMap { byName[$0] }
                        let merged = stored.map { ChannelFile.overlay(ChannelFile.fields(of: $0), fields) } ?? fields
                        var c = try ChannelFile.build(merged, position: stored?.id ?? row.row)
                        try ChannelSecrets.restore(&c, from: stored)
                        c.id = stored?.id ?? 0
                        try check(c)
                        try seen.check(c)
                        upserts.append(c)
                        results.append(RowResult(row: row.row, line: row.line, name: c.name,
                                                 result: stored == nil ? "created" : "updated", field: nil, error: nil))
                    } catch {
                        results.append(RowResult(row: row.row, line: row.line, name: name, result: "error", field: error.field,
                                                 error: error.field.map { "\($0): \(error.reason)" } ?? error.reason))
                    }
                }
                return ChannelEdit(upserts: upserts)
            }
        } catch let e as ChannelTableError {
            throw AdminError(400, "the import would leave the channels invalid, nothing was changed: \(e)")
        }
        if results.contains(where: { $0.result != "error" }) { try ctx.control.reloadChannels() }
        return Report(created: results.filter { $0.result == "created" }.count,
                      updated: results.filter { $0.result == "updated" }.count,
                      failed: results.filter { $0.result == "error" }.count, rows: results)
    }

    /// The checks the table makes of one channel, so a row that would fail them is
    /// reported as that row's error instead of refusing the whole import.
    static func check(_ c: Channel) throws(ChannelFile.FieldError) {
        do { _ = try ChannelTable([c], state: RoutingState()) } catch {
            throw ChannelFile.FieldError(field: ChannelInput.invalid(error).field, reason: "\(error)")
        }
    }

    static func reason(_ e: ChannelFileError) -> String {
        switch e {
        case .csv(let line, let field, let reason, _): return "line \(line)" + (field.map { ", column \($0)" } ?? "") + ": \(reason)"
        case .json(let i, let field, let reason, _): return "entry [\(i)]" + (field.map { ", field \($0)" } ?? "") + ": \(reason)"
        case .format(let r): return r
        case .unreadable(_, let r): return r
        }
    }

    /// The CSV: the body itself, or the file part of a `multipart/form-data` body.
    static func fileBytes(_ body: [UInt8], contentType: String?) throws(AdminError) -> [UInt8] {
        guard let type = contentType, type.lowercased().hasPrefix("multipart/form-data") else {
            return body
        }
        guard let boundary = Multipart.boundary(type) else {
            throw AdminError(400, "multipart/form-data needs a boundary parameter")
        }
        let parts = Multipart.parts(body, boundary: boundary)
        guard !parts.isEmpty else { throw AdminError(400, "the multipart body holds no parts") }
        let file = parts.first { $0.filename != nil } ?? parts.first { $0.name == "file" } ?? parts[0]
        return file.content
    }
}

/// `multipart/form-data` (RFC 7578) bodies: enough to find an uploaded file.
enum Multipart {
    struct Part {
        var name: String?
        var filename: String?
        var content: [UInt8]
    }

    /// The `boundary` parameter of a Content-Type, unquoted.
    static func boundary(_ contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var v = kv[1].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v.isEmpty || v.utf8.count > 70 ? nil : v
        }
        return nil
    }

    /// The parts between `--boundary` delimiters, with their disposition's name and
    /// filename; an unterminated last part is dropped.
    static func parts(_ body: [UInt8], boundary: String) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        let crlf: [UInt8] = [0x0D, 0x0A]
        guard var at = body.firstRange(of: delimiter)?.upperBound else { return [] }
        var out: [Part] = []
        while at < body.count {
            // After a delimiter: "--" ends the body, else the line ends and a part follows.
            if body[at...].starts(with: [0x2D, 0x2D]) { break }
            guard let lineEnd = body[at...].firstRange(of: crlf) else { break }
            let headStart = lineEnd.upperBound
            guard let headEnd = body[headStart...].firstRange(of: crlf + crlf) else { break }
            guard let next = body[headEnd.upperBound...].firstRange(of: crlf + delimiter) else { break }
            let head = String(decoding: body[headStart..<headEnd.lowerBound], as: UTF8.self)
            var part = Part(content: Array(body[headEnd.upperBound..<next.lowerBound]))
            // `isNewline`: "\r\n" is one Character, equal to neither "\r" nor "\n".
            for line in head.split(whereSeparator: { $0.isNewline })
            where line.lowercased().hasPrefix("content-disposition:") {
                part.name = parameter(line, "name")
                part.filename = parameter(line, "filename")
            }
            out.append(part)
            at = next.upperBound
        }
        return out
    }

    /// A `key="value"` (or unquoted) parameter of a header line.
    static func parameter(_ line: Substring, _ key: String) -> String? {
        for param in line.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == key else { continue }
            let v = kv[1].trimmingCharacters(in: .whitespaces)
            return v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 ? String(v.dropFirst().dropLast()) : v
        }
        return nil
    }
}
