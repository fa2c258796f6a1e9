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
        // A name with CR LF cannot be entered any more (channel input rules), but one stored
        // before the rules can still be exported: it stays one quoted row, and importing it
        // is refused naming the field rather than splitting it into two rows.
        var c = Channel(id: 1, name: "line one\r\nline \"two\"\u{301}", kind: .openai, urls: ["https://x.example"],
                        keys: [ChannelKey(index: 0, secret: "sk-0123456789")])
        c.models = ["m1", "m2"]
        let csv = ChannelCSV.columns.joined(separator: ",") + "\r\n" + ChannelCSV.row(c).map(ChannelCSV.quote).joined(separator: ",") + "\r\n"
        let rows = try ChannelCSV.rows(of: Array(csv.utf8), contentType: "text/csv")
        XCTAssertEqual(rows.count, 1)
        XCTAssertThrowsError(try ChannelFile.build(rows[0].fields, position: 1)) { e in
            XCTAssertEqual((e as? ChannelFile.FieldError)?.field, "name", "\(e)")
        }
        // Quotes before a combining mark (one Character with the quote) still round-trip.
        c.name = "line \"two\"\u{301}"
        let csv2 = ChannelCSV.columns.joined(separator: ",") + "\r\n" + ChannelCSV.row(c).map(ChannelCSV.quote).joined(separator: ",") + "\r\n"
        let rows2 = try ChannelCSV.rows(of: Array(csv2.utf8), contentType: "text/csv")
        XCTAssertEqual(rows2.count, 1)
        var back = try ChannelFile.build(rows2[0].fields, position: 1)
        try ChannelSecrets.restore(&back, from: c)
        XCTAssertEqual(ChannelFile.fields(of: back), ChannelFile.fields(of: c))
    }

    /// Sibling of the quoting defect: part headers were split into lines on Characters, so
    /// with CR LF line ends a part's headers were one line, and a Content-Disposition after
    /// a Content-Type was never seen (the first part was taken, not the file).
    func testMultipartFindsTheFilePartWhateverTheHeaderOrder() throws {
        let body = "--B\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            + "--B\r\nContent-Type: text/csv\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"c.csv\"\r\n\r\nname,api_key,url\r\n"
            + "--B--\r\n"
        let parts = Multipart.parts(Array(body.utf8), boundary: "B")
        XCTAssertEqual(parts.map(\.name), ["note", "upload"])
        XCTAssertEqual(parts.map(\.filename), [nil, "c.csv"])
        let file = try ChannelCSV.fileBytes(Array(body.utf8), contentType: "multipart/form-data; boundary=B")
        XCTAssertEqual(String(decoding: file, as: UTF8.self), "name,api_key,url")
    }
}
