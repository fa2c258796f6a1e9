import XCTest
@testable import Proxy

/// `IDMap` behaves as `[Int: Value]` does, for dense ids, sparse and negative ones, and keys
/// that differ only in high bits (the multiply-and-fold must still spread them).
final class IDMapTests: XCTestCase {
    func testIDMapAgreesWithADictionary() {
        var rng = SystemRandomNumberGenerator()
        var map = IDMap<Int>()
        var dict: [Int: Int] = [:]
        let keys = Array(0..<500) + (0..<200).map { $0 << 40 } + [-1, -2, Int.min, Int.max] + (0..<300).map { _ in Int.random(in: .min ... .max, using: &rng) }
        for (n, k) in keys.enumerated() {
            map[k] = n
            dict[k] = n
            map[k, default: 0] += 1
            dict[k, default: 0] += 1
        }
        for k in keys.prefix(100) { map[k]! *= 3; dict[k]! *= 3 }
        for k in keys.suffix(50) { XCTAssertEqual(map.removeValue(forKey: k), dict.removeValue(forKey: k)) }
        XCTAssertEqual(map.count, dict.count)
        XCTAssertEqual(Set(map.keys), Set(dict.keys))
        for k in keys { XCTAssertEqual(map[k], dict[k], "\(k)") }
        XCTAssertNil(map[123_456_789])
        map.removeAll(keepingCapacity: true)
        XCTAssertTrue(map.isEmpty)
        XCTAssertNil(map[0])
    }
}
