// The 429 reset hint (`retry-after` as delta seconds or an IMF-fixdate, else
// `anthropic-ratelimit-unified-reset` as unix seconds) against a reference that reads the
// fields by hand and leaves the calendar to glibc's timegm: the same hint in nanoseconds,
// saturated at UInt64.max, for any header bytes and any wall-clock time. Never traps.

import Glibc
@testable import Proxy
@testable import Reactor

private struct Head: HTTPHeadFields {
    var bytes: [UInt8]
    var fields: [HTTPHeaderField]
}

private func decimal(_ v: [UInt8]) -> UInt64? {
    guard !v.isEmpty, v.count <= 18, v.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return UInt64(String(decoding: v, as: UTF8.self))
}

private func imfDate(_ v: [UInt8]) -> UInt64? {
    guard let comma = v.firstIndex(of: UInt8(ascii: ",")) else { return nil }
    var rest = v[(comma + 1)...].drop(while: { $0 == 0x20 })
    guard rest.count == 24 else { return nil }
    let s = Array(rest)
    rest = []
    func digits(_ r: Range<Int>) -> Int? {
        guard s[r].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: s[r], as: UTF8.self))
    }
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    let mon = String(decoding: s[3..<6].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    guard s[2] == 0x20, s[6] == 0x20, s[11] == 0x20, s[14] == 0x3A, s[17] == 0x3A, s[20] == 0x20,
          s[21...].elementsEqual("GMT".utf8), let m = months.firstIndex(of: mon),
          let day = digits(0..<2), let year = digits(7..<11), let hh = digits(12..<14), let mm = digits(15..<17),
          let ss = digits(18..<20), (1...31).contains(day), hh < 24, mm < 60, ss < 61, year >= 1970 else { return nil }
    var tm = Glibc.tm()
    tm.tm_year = Int32(year - 1900)
    tm.tm_mon = Int32(m)
    tm.tm_mday = Int32(day)
    tm.tm_hour = Int32(hh)
    tm.tm_min = Int32(mm)
    tm.tm_sec = Int32(ss)
    let t = timegm(&tm)
    return t >= 0 ? UInt64(t) : nil
}

private func nanos(_ seconds: UInt64) -> UInt64 {
    let (n, o) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    return o ? UInt64.max : n
}

private func expected(retryAfter: [UInt8]?, reset: [UInt8]?, now: UInt64) -> UInt64? {
    if let v = retryAfter {
        if let s = decimal(v) { return nanos(s) }
        if let t = imfDate(v), t > now { return nanos(t - now) }
    }
    if let v = reset, let t = decimal(v), t > now { return nanos(t - now) }
    return nil
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    var now: UInt64 = 0
    for _ in 0..<8 { now = now << 8 | UInt64(input.byte()) }
    // Mostly a realistic clock, sometimes any 64-bit value.
    if mode & 0x80 == 0 { now = 1_700_000_000 + now % 400_000_000 }
    let first = input.take(Int(input.byte()) % 64)
    let second = input.rest()

    var bytes: [UInt8] = []
    var fields: [HTTPHeaderField] = []
    func add(_ name: String, _ value: [UInt8]) {
        let n = bytes.count
        bytes += Array(name.utf8)
        let v = bytes.count + 2
        bytes += [0x3A, 0x20] + value
        fields.append(HTTPHeaderField(name: n..<(n + name.utf8.count), value: v..<(v + value.count)))
        bytes += [0x0D, 0x0A]
    }
    let retryAfter = mode & 1 != 0 ? first : nil
    let reset = mode & 2 != 0 ? second : nil
    if mode & 4 != 0 { add("Content-Type", Array("application/json".utf8)) }
    if let r = retryAfter { add(mode & 8 != 0 ? "Retry-After" : "retry-after", r) }
    if let r = reset { add("anthropic-ratelimit-unified-reset", r) }
    let head = Head(bytes: bytes, fields: fields)

    let want = expected(retryAfter: retryAfter, reset: reset, now: now)
    let got = Classifier.resetHint(head, nowUnixSeconds: now)
    check(got == want, "reset hint \(String(describing: got)), reference \(String(describing: want)) "
          + "for retry-after \(retryAfter.map { show($0) } ?? "-"), reset \(reset.map { show($0) } ?? "-"), now \(now)")
    if let r = retryAfter {
        check(Classifier.httpDate(r[...]) == imfDate(r), "httpDate(\(show(r))) \(String(describing: Classifier.httpDate(r[...]))), timegm \(String(describing: imfDate(r)))")
    }
    let verdict = Classifier.classify(status: 429, headers: head, bodyPrefix: [], model: "m", nowUnixSeconds: now)
    check(verdict == .failover(.rateLimit, .model, resetAfterNanos: want), "429 verdict \(verdict)")
    return 0
}
