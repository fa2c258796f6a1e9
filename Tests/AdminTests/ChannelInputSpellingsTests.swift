import XCTest

@testable import Admin
@testable import Proxy

/// One vocabulary of channel fields (`ChannelFile.fieldSpellings`) for every input: each
/// spelling a channels file accepts, a `POST /admin/channels` body and a CSV header accept,
/// and each gives the same channel.
final class ChannelInputSpellingsTests: XCTestCase {
    /// A value every spelling of `field` takes.
    func value(_ field: String) -> FieldValue {
        switch field {
        case "id": return .number(4)
        case "name": return .string("n")
        case "protocol": return .string("openai")
        case "url": return .string("https://a.example/v1")
        case "api_key": return .string("sk-one-0123456789,sk-two-0123456789")
        case "key_strategy": return .string("round_robin")
        case "models": return .string("m1,m2")
        case "model_redirects": return .object(["old": .string("m1")])
        case "enabled", "insecure_skip_verify": return .bool(true)
        case "proxy": return .string("http://proxy.example:3128")
        case "first_byte_timeout", "cost_multiplier", "daily_cost_limit": return .number(2.5)
        case "probe_interval_s": return .number(30)
        case "probe_model": return .string("m1")
        default: return .number(3)
        }
    }

    func testEverySpellingOfEveryFieldIsTheSameChannelInFileAPIAndCSV() throws {
        XCTAssertEqual(ChannelFile.field(named: "api_key"), "api_key")
        XCTAssertEqual(ChannelFile.field(named: "api_keys"), "api_key")
        XCTAssertEqual(ChannelFile.field(named: "urls"), "url")
        XCTAssertNil(ChannelFile.field(named: "colour"))
        for (field, aliases) in ChannelFile.fieldSpellings where field != "id" {
            for spelling in [field] + aliases {
                var canonical: [String: FieldValue] = [:]
                for (f, _) in ChannelFile.fieldSpellings where f != "id" { canonical[f] = value(f) }
                var doc = canonical
                doc[field] = nil
                doc[spelling] = value(field)
                let reference = ChannelFile.fields(of: try ChannelFile.build(canonical, position: 1))

                // The channels file (JSON).
                let json = "[" + String(decoding: try JSONEncoder().encode(doc.mapValues(Encoded.init)), as: UTF8.self) + "]"
                let filed = try ChannelFile.parse(Array(json.utf8))
                XCTAssertEqual(filed.map(ChannelFile.fields(of:)), [reference], "file, \(spelling)")

                // The admin API.
                var c = try ChannelInput.channel(doc, stored: nil)
                c.id = 1
                XCTAssertEqual(ChannelFile.fields(of: c), reference, "API, \(spelling)")

                // A CSV header.
                let names = doc.keys.sorted()
                let csv = names.joined(separator: ",") + "\n" + names.map { n -> String in
                    switch doc[n]! {
                    case .string(let s): return "\"\(s)\""
                    case .number(let d): return "\(d)"
                    case .bool(let b): return "\(b)"
                    case .object: return "\"{\"\"old\"\":\"\"m1\"\"}\""
                    default: return ""
                    }
                }.joined(separator: ",") + "\n"
                let rows = try ChannelFile.rows(Array(csv.utf8))
                XCTAssertEqual(rows.count, 1)
                XCTAssertNil(rows[0].problem, "CSV, \(spelling)")
                XCTAssertEqual(ChannelFile.fields(of: try ChannelFile.build(rows[0].fields, position: 1)), reference, "CSV, \(spelling)")
            }
        }
    }

    func testAnUnknownFieldIsRefusedByEveryInputNamingIt() throws {
        let doc: [String: FieldValue] = ["name": .string("n"), "protocol": .string("openai"), "urls": .string("https://a.example"),
                                         "api_key": .string("sk-0123456789"), "colour": .string("red")]
        XCTAssertThrowsError(try ChannelInput.channel(doc, stored: nil)) { e in
            XCTAssertEqual((e as? AdminError)?.field, "colour")
        }
        let json = "[" + String(decoding: try JSONEncoder().encode(doc.mapValues(Encoded.init)), as: UTF8.self) + "]"
        XCTAssertEqual(try ChannelFile.rows(Array(json.utf8)).first?.problem?.field, "colour")
        XCTAssertThrowsError(try ChannelFile.parse(Array(json.utf8)))
    }
}

/// A `FieldValue` as JSON, for writing test documents.
private struct Encoded: Encodable {
    let v: FieldValue
    init(_ v: FieldValue) { self.v = v }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch v {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a.map(Encoded.init))
        case .object(let o): try c.encode(o.mapValues(Encoded.init))
        }
    }
}
