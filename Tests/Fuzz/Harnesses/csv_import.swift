// The admin CSV import. (1) Any bytes, as a plain body or the file part of a multipart
// body: rows or an AdminError, each row a channel or a FieldError, never a trap. (2) Round
// trip: a channel made from the input (names with quotes, commas, line breaks, Chinese and
// emoji; odd numbers; redirects; proxies) exported as ccLoad CSV (BOM, header, masked
// secrets) and imported over the stored channel the way `apply` does is the same channel.

import Foundation
@testable import Admin
@testable import Proxy

private let alphabet: [String] = {
    var a = (0x20...0x7E).map { String(UnicodeScalar(UInt8($0))) }
    a += ["\"", ",", "\r\n", "\n", "\r", "\t", "模", "型", "渠道", "é", "ß", "\u{1F600}", "\u{FEFF}", "=", "+", "-", "@", "…", "\u{301}", "\"\u{301}"]
    return a
}()

private extension FuzzInput {
    mutating func text(_ maxLength: Int, from chars: [String] = alphabet) -> String {
        let n = Int(byte()) % (maxLength + 1)
        var s = ""
        for _ in 0..<n { s += chars[Int(byte()) % chars.count] }
        return s
    }

    mutating func positive() -> Double? {
        var bits: UInt64 = 0
        for _ in 0..<8 { bits = bits << 8 | UInt64(byte()) }
        let d = abs(Double(bitPattern: bits))
        return d.isFinite && d > 0 ? d : nil
    }
}

private let listChars = alphabet.filter { !["\"", ",", "\r\n", "\n", "\r", ";", " ", "\t", "\u{FEFF}", "["].contains($0) }
private let keyChars = (0x21...0x7E).map { String(UnicodeScalar(UInt8($0))) }.filter { $0 != "," && $0 != ";" }
private let trim = CharacterSet.whitespacesAndNewlines

private func channel(_ input: inout FuzzInput) -> Channel {
    var name = input.text(24).trimmingCharacters(in: trim)
    if name.isEmpty || "=+-@".contains(name.first!) { name = "n" + name }  // formula cells may be neutralised on export
    let kinds: [ProtocolKind] = [.anthropic, .openai, .codex, .gemini]
    let urls = (0...(Int(input.byte()) % 3)).map { i in "https://api\(i).example.com" + (input.byte() & 1 == 0 ? "" : "/p\(i)/v") }
    var keys: [String] = []
    for _ in 0...(Int(input.byte()) % 3) {
        let k = input.text(40, from: keyChars)
        keys.append(k.isEmpty ? "sk-\(keys.count)" : k)
    }
    var c = Channel(id: 1, name: name, kind: kinds[Int(input.byte()) % 4], urls: urls,
                    keys: keys.enumerated().map { ChannelKey(index: $0.offset, secret: $0.element) })
    let flags = input.byte()
    c.keyStrategy = flags & 1 == 0 ? .sequential : .roundRobin
    c.enabled = flags & 2 == 0
    c.insecureSkipVerify = flags & 4 != 0
    c.priority = (input.word() - 32768) * (flags & 8 != 0 ? 30_000 : 1)
    if flags & 16 != 0 { c.weight = 1 + input.word() * 15 }
    for _ in 0..<(Int(input.byte()) % 4) {
        let m = input.text(16, from: listChars)
        if !m.isEmpty, !c.models.contains(m) { c.models.append(m) }
    }
    for _ in 0..<(Int(input.byte()) % 3) {
        let from = input.text(12), to = input.text(12)
        if !from.isEmpty, !to.isEmpty { c.redirects[from] = to }
    }
    if flags & 32 != 0 { c.firstByteTimeoutSeconds = input.positive() }
    if flags & 64 != 0 { c.costMultiplier = input.positive() ?? 0 }
    if flags & 128 != 0 { c.dailyCostLimitUSD = input.positive() }
    let more = input.byte()
    if more & 1 != 0 { c.maxConcurrency = 1 + input.word() * 1000 }
    if more & 2 != 0 {
        let user = input.text(8, from: (0x61...0x7A).map { String(UnicodeScalar(UInt8($0))) })
        let pass = input.text(8, from: keyChars.filter { !"@/:?#".contains($0) })
        let scheme = more & 4 == 0 ? "http" : "socks5"
        c.proxy = user.isEmpty ? "\(scheme)://proxy.local:3128" : "\(scheme)://\(user):\(pass.isEmpty ? "x" : pass)@proxy.local:1080"
    }
    return c
}

/// The bytes `ChannelCSV.export` answers for these channels.
/// The export as `GET /admin/channels/export` writes it (formula cells neutralised).
private func exported(_ channels: [Channel]) -> [UInt8] { ChannelCSV.document(channels) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    if mode & 1 == 0 {
        // (1) Any bytes.
        let body = input.rest()
        let contentType = mode & 2 == 0 ? nil : "multipart/form-data; boundary=\(mode & 4 == 0 ? "XyZ" : "\"a b\"")"
        guard let rows = try? ChannelCSV.rows(of: body, contentType: contentType) else { return 0 }
        for row in rows {
            guard row.problem == nil, var c = try? ChannelFile.build(row.fields, position: row.row) else { continue }
            _ = try? ChannelSecrets.restore(&c, from: nil)
            _ = try? ChannelCSV.check(c)
        }
        return 0
    }
    // (2) Export, then import over the stored channel.
    let stored = channel(&input)
    let storedFields = ChannelFile.fields(of: stored)
    // Only a channel the input rules let in can be stored (ChannelFieldRules: bounded numbers,
    // no control bytes in keys, hosts, models, ...); the round trip is checked for those.
    guard (try? ChannelFile.build(storedFields, position: stored.id)) != nil else { return 0 }
    let csv = exported([stored])
    let rows: [ChannelFileRow]
    do { rows = try ChannelCSV.rows(of: csv, contentType: "text/csv") } catch {
        fail("export of \(storedFields) does not import: \(error.message)\n\(show(csv))")
    }
    check(rows.count == 1, "\(rows.count) rows from one channel:\n\(show(csv))")
    let row = rows[0]
    check(row.problem == nil, "row problem \(String(describing: row.problem))\n\(show(csv))")
    var fields = row.fields
    fields["id"] = nil
    do {
        var c = try ChannelFile.build(ChannelFile.overlay(storedFields, fields), position: stored.id)
        try ChannelSecrets.restore(&c, from: stored)
        c.id = stored.id
        check(ChannelFile.fields(of: c) == storedFields,
              "round trip changed the channel:\n stored \(storedFields)\n import \(ChannelFile.fields(of: c))\n\(show(csv))")
    } catch {
        fail("exported channel fails to import: \(error)\n stored \(storedFields)\n\(show(csv))")
    }
    return 0
}
