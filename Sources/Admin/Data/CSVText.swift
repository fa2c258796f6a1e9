import Proxy

/// The admin's CSV exports (request log, usage): UTF-8 with a BOM (so spreadsheets read
/// it as UTF-8), CRLF line ends, RFC 4180 quoting (`ChannelCSV.quote`), and every cell a
/// spreadsheet would run as a formula prefixed with `'` (`CSVFormula`, as the channel export).
enum CSVText {
    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// A BOM and the header line.
    static func document(header: [String]) -> [UInt8] {
        var out = bom
        append(row: header, to: &out)
        return out
    }

    /// One line of cells, neutralised and quoted.
    static func append(row: [String], to out: inout [UInt8]) {
        for (i, cell) in row.enumerated() {
            if i > 0 { out.append(0x2C) }
            out.append(contentsOf: ChannelCSV.quote(CSVFormula.neutralised(cell)).utf8)
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}
