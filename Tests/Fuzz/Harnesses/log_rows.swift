// A pending request-log segment's bytes (`LogRows.decode`: what `request_log_pending.data`
// holds, read back by the writer and the log search) on any input. Never traps; what
// decodes has exactly rows × 29 values, every text inside the buffer, and reads as records
// and through every log-search filter without trapping. With the mode byte odd, the input
// is also made into a record, encoded and decoded back to the very values encoded.

import Foundation
@testable import Proxy
@testable import Reactor

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    let bytes = input.rest()

    if let rows = LogRows.decode(bytes) {
        check(rows.rows <= LogRows.maxRows, "rows: \(rows.rows)")
        check(rows.values.count == rows.rows * LogRows.columns, "values: \(rows.values.count) for \(rows.rows) rows")
        for v in rows.values {
            if case .text(let start, let count) = v {
                check(start >= LogRows.headerSize && count >= 0 && start + count <= bytes.count, "text \(start)+\(count) of \(bytes.count)")
            }
        }
        let decoder = JSONDecoder()
        let queries = [LogQuery(), LogQuery(fromMillis: 5, toMillis: .max, channelID: 1, model: "m", statusClass: .other,
                                            tokenID: 2, userID: 3, requestID: "r")]
            + StatusClass.allCases.map { LogQuery(statusClass: $0) }
        for k in 0..<min(rows.rows, 64) {
            _ = StoreReader.record(rows.row(k, id: Int64(k)), decoder)
            for q in queries { _ = StoreReader.matches(q, rows, k) }
        }
    }

    if mode & 1 != 0 {
        // The rest as a record's fields: every text from a slice of the bytes, the numbers
        // from the bytes too (extremes included), then round-tripped.
        var rng = FuzzInput(bytes)
        func text() -> String { String(decoding: rng.take(Int(rng.byte() % 40)), as: UTF8.self) }
        func number() -> Int64 {
            let b = rng.take(8)
            return b.reduce(0) { $0 << 8 | Int64($1) }
        }
        var r = RequestRecord()
        r.id = UInt64(bitPattern: number())
        r.timeMillis = UInt64(bitPattern: number())
        r.tokenID = mode & 2 != 0 ? Int(number()) : nil
        r.channelID = mode & 4 != 0 ? Int(number()) : nil
        r.channelName = mode & 8 != 0 ? text() : nil
        r.protocolName = text()
        r.path = text()
        r.requestedModel = text()
        r.upstreamModel = text()
        r.status = Int(number())
        r.attempts = (0..<Int(rng.byte() % 3)).map { _ in
            AttemptNote(channelID: Int(number()), keyIndex: Int(number()), status: Int(number()), failure: mode & 16 != 0 ? text() : nil)
        }
        r.ttfbMicros = mode & 32 != 0 ? UInt64(bitPattern: number()) : nil
        r.durationMicros = UInt64(bitPattern: number())
        r.inputTokens = Int(number())
        r.costMicroUSD = number()
        r.clientAddress = text()
        r.userAgent = text()
        r.error = mode & 64 != 0 ? text() : nil
        r.requestID = RequestID(clientValue: rng.take(Int(rng.byte() % 70))[...]) ?? RequestID()
        r.userID = mode & 128 != 0 ? Int(number()) : nil
        var rows = LogRows()
        rows.start(keepValues: true)
        withUnsafePointer(to: &r) { rows.append($0) }
        withUnsafePointer(to: &r) { rows.append($0) }
        guard let back = LogRows.decode(rows.bytes) else {
            check(false, "an encoded segment did not decode: \(show(bytes))")
            return 0
        }
        check(back.rows == 2 && back.values == rows.values, "round trip changed the values: \(show(bytes))")
        check(back.textEquals(1, LogRows.Column.requestedModel, r.requestedModel), "model text: \(show(bytes))")
    }
    return 0
}
