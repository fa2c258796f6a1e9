import XCTest

@testable import Proxy

/// `ChannelFile.Seen`: duplicate names and ids are refused, but several channels still
/// to be created (id 0, as an import's new rows) are not duplicates of each other.
final class ChannelFileSeenTests: XCTestCase {
    func channel(_ id: Int, _ name: String) -> Channel {
        Channel(id: id, name: name, kind: .anthropic, urls: ["http://127.0.0.1:9"], keys: [ChannelKey(index: 0, secret: "sk-\(name)-0123456789")])
    }

    func testNewChannelsAreNotDuplicateIDs() throws {
        var seen = ChannelFile.Seen()
        try seen.check(channel(0, "a"))
        try seen.check(channel(0, "b"))
        try seen.check(channel(3, "c"))
        XCTAssertThrowsError(try seen.check(channel(3, "d")))
        XCTAssertThrowsError(try seen.check(channel(0, "a")))
    }
}
