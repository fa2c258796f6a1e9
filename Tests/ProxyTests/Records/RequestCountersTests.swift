import Dispatch
import XCTest

@testable import Proxy

final class RequestCountersTests: XCTestCase {
    func testStatusesCountInTheirClass() {
        let c = RequestCounters()
        for s in [200, 204, 299, 400, 404, 429, 429, 500, 503, 599, 0, 101, 302, 600, 499] { c.count(status: s) }
        XCTAssertEqual(c.value(.success), 3)
        XCTAssertEqual(c.value(.clientError), 5, "400, 404, 429, 429, 499")
        XCTAssertEqual(c.value(.rateLimited), 2)
        XCTAssertEqual(c.value(.serverError), 3)
        XCTAssertEqual(c.value(.other), 4, "0, 101, 302, 600")
        XCTAssertEqual(c.total, 15, "a 429 counts once in the total")
        XCTAssertEqual(RequestCounters.Class.allCases.map(\.label), ["2xx", "4xx", "429", "5xx", "other"])
    }

    func testConcurrentCountsAreNotLost() {
        let c = RequestCounters()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10_000 { c.count(status: 200) }
        }
        XCTAssertEqual(c.value(.success), 80_000)
    }
}
