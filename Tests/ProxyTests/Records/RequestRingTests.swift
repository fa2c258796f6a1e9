import XCTest
@testable import Proxy

final class RequestRingTests: XCTestCase {
    func testKeepsTheNewestAndPagesBackwards() {
        let ring = RequestRing(capacity: 5)
        for i in 0..<12 {
            var r = RequestRecord()
            r.status = 200 + i
            ring.append(&r)
        }
        XCTAssertEqual(ring.count, 5)
        let first = ring.page(limit: 3)
        XCTAssertEqual(first.map(\.id), [12, 11, 10])
        XCTAssertEqual(first.map(\.status), [211, 210, 209])
        let next = ring.page(limit: 3, beforeID: first.last!.id)
        XCTAssertEqual(next.map(\.id), [9, 8])
    }

    func testAppendGivesTheCallersRecordItsIdAndKeepsItsOwnCopy() {
        let ring = RequestRing(capacity: 3)
        var ids: [UInt64] = []
        for i in 0..<5 {
            var r = RequestRecord()
            r.path = "/v1/messages/\(i)-a-path-longer-than-fifteen-bytes"
            ring.append(&r)
            ids.append(r.id)
            // The caller's copy goes on (to the writer) and may change; the ring's does not.
            r.path = "changed"
            r.status = 999
        }
        XCTAssertEqual(ids, [1, 2, 3, 4, 5])
        let page = ring.page(limit: 10)
        XCTAssertEqual(page.map(\.id), [5, 4, 3], "newest first, the capacity kept")
        XCTAssertEqual(page.map(\.path), (2...4).reversed().map { "/v1/messages/\($0)-a-path-longer-than-fifteen-bytes" })
        XCTAssertEqual(page.map(\.status), [0, 0, 0])
        var sixth = RequestRecord()
        ring.append(&sixth)
        XCTAssertEqual(sixth.id, 6, "ids number on")
        XCTAssertEqual(ring.page(limit: 2, beforeID: 6).map(\.id), [5, 4])
    }
}
