import XCTest

@testable import Admin
@testable import Proxy

final class ChannelCSVTests: XCTestCase {
    /// Found by the csv_import fuzz harness: `quote` tested Characters, so a cell with "\r\n"
    /// (one Character, neither "\r" nor "\n") went out unquoted and split the row in two on
    /// import; a quote followed by a combining mark was neither detected nor doubled.
    func testCellsWithCRLFOrAQuoteBeforeACombiningMarkAreQuoted() {
        XCTAssertEqual(ChannelCSV.quote("a\r\nb"), "\"a\r\nb\"")
        XCTAssertEqual(ChannelCSV.quote("x\"\u{301}y"), "\"x\"\"\u{301}y\"")
        XCTAssertEqual(ChannelCSV.quote("plain 名"), "plain 名")
        XCTAssertEqual(ChannelCSV.quote(" edge"), "\" edge\"")
        XCTAssertEqual(ChannelCSV.quote("a,b"), "\"a,b\"")
    }

    func testExportedRowWithCRLFInTheNameImportsAsOneChannel() throws {
        var c = Channel(id: 1, name: "line one\r\nline \"two\"\u{301}", kind: .openai, urls: ["https://x.example"],
                        keys: [ChannelKey(index: 0, secret: "sk-0123456789")])
        c.models = ["m1", "m2"]
        let csv = ChannelCSV.columns.joined(separator: ",") + "\r\n" + ChannelCSV.row(c).map(ChannelCSV.quote).joined(separator: ",") + "\r\n"
        let rows = try ChannelCSV.rows(of: Array(csv.utf8), contentType: "text/csv")
        XCTAssertEqual(rows.count, 1)
        var back = try ChannelFile.build(rows[0].fields, position: 1)
        try ChannelSecrets.restore(&back, from: c)
        XCTAssertEqual(ChannelFile.fields(of: back), ChannelFile.fields(of: c))
    }
}
