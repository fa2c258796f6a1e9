import XCTest
@testable import Proxy

/// `ModelNames`: the table's model names found by their bytes, and what the request path
/// takes from it (the scan's interned model, the route lookup).
final class RoutingModelNamesTests: XCTestCase {
    private func id(_ names: ModelNames, _ s: String) -> Int? {
        Array(s.utf8).withUnsafeBytes { names.id($0) }
    }

    func testEveryNameIsFoundAndNoOtherIs() {
        // Enough names that slots collide and probes wrap around the table's end.
        let all = (0..<300).map { "model-\($0)-\(String(repeating: "x", count: $0 % 23))" } + ["", "a", "claude-sonnet-4-5-20250929"]
        let names = ModelNames(all + all.prefix(10))  // repeats are held once
        XCTAssertEqual(names.count, all.count)
        var ids = Set<Int>()
        for n in all {
            guard let i = id(names, n) else { return XCTFail("\(n) not found") }
            XCTAssertEqual(names.name(i), n)
            XCTAssertEqual(names.id(of: n), i)
            ids.insert(i)
        }
        XCTAssertEqual(ids.count, all.count, "two names share an id")
        for miss in ["model-1-", "model-1-xx", "claude-sonnet-4-5-2025092", "claude-sonnet-4-5-20250929 ", "b", "Model-0-"] {
            XCTAssertNil(id(names, miss), miss)
        }
        XCTAssertNil(id(ModelNames([]), "a"))
        XCTAssertNil(id(ModelNames([]), ""))
    }

    private func table(_ models: [String], redirects: [String: String] = [:]) throws -> ChannelTable {
        var c = Channel(id: 1, name: "a", kind: .anthropic, urls: ["https://up.example.com"], keys: [ChannelKey(index: 0, secret: "k")])
        c.models = models
        c.redirects = redirects
        var any = Channel(id: 2, name: "any", kind: .openai, urls: ["https://up2.example.com"], keys: [ChannelKey(index: 0, secret: "k")])
        any.models = []
        return try ChannelTable([c, any], state: RoutingState())
    }

    func testTheScanTakesAKnownModelAsTheTablesNameAndDecodesTheRest() throws {
        let long = "claude-sonnet-4-5-20250929"
        let t = try table([long], redirects: ["alias-model-name-longer-than-15": long])
        func scan(_ body: String) throws -> String {
            try RequestScan.scan(body: Array(body.utf8), kind: .anthropic, target: [], table: t).model
        }
        XCTAssertEqual(try scan(#"{"model":"claude-sonnet-4-5-20250929","max_tokens":1}"#), long)
        XCTAssertEqual(try scan(#"{"model":"alias-model-name-longer-than-15"}"#), "alias-model-name-longer-than-15")
        // Escaped: decoded, not looked up raw (and still the same name).
        XCTAssertEqual(try scan(#"{"model":"claude-sonnet-4-5-2025092\u0039"}"#), long)
        // Unknown to the table: decoded as before.
        XCTAssertEqual(try scan(#"{"model":"claude-opus-4-1-20250805"}"#), "claude-opus-4-1-20250805")
        XCTAssertThrowsError(try scan(#"{"model":""}"#))
        // The same answers as the scan without a table, for each.
        for body in [#"{"model":"claude-sonnet-4-5-20250929"}"#, #"{"model":"x\u0041"}"#, #"{"model":"claude-opus-4-1-20250805"}"#] {
            XCTAssertEqual(try RequestScan.scan(body: Array(body.utf8), kind: .anthropic, target: [], table: t).model,
                           try RequestScan.scan(body: Array(body.utf8), kind: .anthropic, target: []).model)
        }
    }

    func testRoutesByModelIDMatchTheChannelsModels() throws {
        let t = try table(["m-one", "m-two"], redirects: ["m-three": "m-one"])
        for m in ["m-one", "m-two", "m-three"] {
            XCTAssertTrue(t.serves(kind: .anthropic, model: m), m)
        }
        XCTAssertFalse(t.serves(kind: .anthropic, model: "m-four"))
        // The wildcard channel (openai, no models) serves any name, known to the table or not.
        XCTAssertTrue(t.serves(kind: .openai, model: "m-one"))
        XCTAssertTrue(t.serves(kind: .openai, model: "m-four"))
        XCTAssertFalse(t.serves(kind: .gemini, model: "m-one"))
    }
}
