// RequestScan against Foundation: for a body Foundation reads as an object (keys unique
// where it matters), the scan finds the same `model`, `stream` flag and `metadata.user_id`;
// `rewriteModel` gives a body that scans to the new model and otherwise decodes to the same
// object; a Gemini path rewrite parses back to the new model. Any bytes: no trap.

import Foundation
@testable import Proxy

/// Whether the object at `range` names each of its keys once (decoded, escapes included).
private func uniqueKeys(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>?) -> Bool {
    var seen = Set<[UInt8]>()
    var unique = true
    JSONScan.forEachMember(in: buf, object: range) { k, _ in
        if let d = JSONScan.decodeBytes(buf, k), !seen.insert(d).inserted { unique = false }
        return unique
    }
    return unique
}

private let kinds: [ProtocolKind] = [.anthropic, .openai, .codex, .gemini]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let kind = kinds[Int(input.byte() & 3)]
    let target = input.take(Int(input.byte()) % 128)
    let body = input.rest()

    let result = Result { () throws(RequestScanError) in try RequestScan.scan(body: body, kind: kind, target: target[...]) }
    // With a channel table that knows the model (and names like it): the same answer, the
    // model taken as the table's name only when its bytes are exactly that name.
    if case .success(let info) = result {
        // The cache lifetime read in the walk is the whole-body search's answer.
        let searched = body.withUnsafeBytes { RequestScan.asksOneHourCache($0) }
        check(info.cacheOneHour == searched, "the walk read cacheOneHour \(info.cacheOneHour), the search \(searched)")
        let names = [info.model, info.model + "x", String(info.model.dropLast()), "claude-sonnet-4-5-20250929"]
        var c = Channel(id: 1, name: "fuzz", kind: kind, urls: ["https://up.example.com"], keys: [ChannelKey(index: 0, secret: "k")])
        c.models = names.filter { !$0.isEmpty }
        if let table = try? ChannelTable([c], state: RoutingState()) {
            let again = Result { () throws(RequestScanError) in try RequestScan.scan(body: body, kind: kind, target: target[...], table: table) }
            check((try? again.get())?.model == info.model, "the scan with a table read \(String(describing: try? again.get())) for \(info.model)")
        }
    } else {
        check((try? RequestScan.scan(body: body, kind: kind, target: target[...], table: nil)) == nil, "the scan with no table differs")
    }
    if kind == .gemini {
        if let p = GeminiProtocol.parsePath(target[...]), let out = RequestScan.rewriteGeminiPath(target: target[...], to: "m/ü %x") {
            check(GeminiProtocol.parsePath(out[...])?.model == "m/ü %x" || p.model.isEmpty,
                  "Gemini path \(show(target)) rewritten to \(show(out)) parses to \(String(describing: GeminiProtocol.parsePath(out[...])))")
        }
    }

    guard foundationComparable(body), !trailingComma(body),
          let object = (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) as? [String: Any]
    else { return 0 }

    let unique = body.withUnsafeBytes { uniqueKeys($0, nil) }
    guard unique else { return 0 }  // which duplicate wins is RequestScan's own policy
    let model = object["model"] as? String
    if kind != .gemini, model == nil || model == "" {
        check(result == .failure(.noModel), "no string model in \(show(body.prefix(200))), scan gave \(result)")
        return 0
    }
    guard case .success(let info) = result else {
        if kind == .gemini { return 0 }  // the path had no model
        fail("Foundation reads \(show(body.prefix(200))), scan failed: \(result)")
    }
    var stream = false
    if let n = object["stream"] as? NSNumber, String(cString: n.objCType) == "c" { stream = n.boolValue }
    if kind != .gemini {
        check(info.model == model, "model \(info.model.debugDescription), Foundation \(String(describing: model))")
        check(info.stream == stream, "stream \(info.stream), Foundation \(String(describing: object["stream"]))")
    }
    var session: String?
    if let meta = object["metadata"] as? [String: Any], let u = meta["user_id"] as? String, !u.isEmpty { session = u }
    let metaUnique = body.withUnsafeBytes { buf in
        JSONScan.value(forKey: "metadata", in: buf).map { $0.kind != .object || uniqueKeys(buf, $0.range) } ?? true
    }
    if metaUnique {
        check(info.bodySession == session, "session \(String(describing: info.bodySession)), Foundation \(String(describing: session))")
    }

    // Round trip: the rewritten body scans to the new model and is otherwise the same object.
    guard let range = info.modelRange else { return 0 }
    let renamed = "claude-\"haiku\"\\\u{1}\u{10FFFF}"
    let out = RequestScan.rewriteModel(body: body, range: range, to: renamed)
    let again = Result { () throws(RequestScanError) in try RequestScan.scan(body: out, kind: kind, target: target[...]) }
    check((try? again.get())?.model == renamed, "rewritten body \(show(out.prefix(200))) scans to \(again)")
    guard var o2 = (try? JSONSerialization.jsonObject(with: Data(out), options: [])) as? [String: Any] else {
        fail("Foundation cannot read the rewritten body \(show(out.prefix(200)))")
    }
    check(o2["model"] as? String == renamed, "Foundation reads the rewritten model as \(String(describing: o2["model"]))")
    var o1 = object
    o1["model"] = nil
    o2["model"] = nil
    // (Not `.sortedKeys` output: Foundation on Linux sorted the same keys two ways.)
    check(jsonEqual(o1, o2), "rewriting the model changed other members of \(show(body.prefix(300)))")
    return 0
}
