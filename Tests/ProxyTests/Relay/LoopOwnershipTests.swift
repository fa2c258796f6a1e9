import Foundation
import XCTest

/// DESIGN.md: a class owned by one loop is `@unchecked Sendable` with an owner comment and
/// asserts, in debug builds, that it is touched on that loop. This reads the sources of the
/// proxy's Relay, Protocols, Records and Access folders and checks that every entry point
/// (a non-private method) of each loop-owned class, and of its extensions, asserts first.
final class LoopOwnershipTests: XCTestCase {
    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/Proxy")

    /// Entry points of `names` (or of the `@unchecked Sendable` class a file declares) that do
    /// not start with `assertOnLoop()`, as "file: func".
    static func unasserted(_ text: String, file: String, owned: Set<String>) -> [String] {
        var missing: [String] = []
        let lines = text.components(separatedBy: "\n")
        var inOwned = false
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if !line.isEmpty && !line.hasPrefix(" ") {
                // A top-level declaration: a loop-owned class or an extension of one.
                inOwned = owned.contains { name in
                    ["class \(name):", "class \(name) ", "extension \(name) ", "extension \(name):"].contains { line.contains($0) }
                }
            }
            let t = line.trimmingCharacters(in: .whitespaces)
            let isMember = line.hasPrefix("    ") && !line.hasPrefix("     ")
            if inOwned && isMember && (t.hasPrefix("func ") || t.hasPrefix("public func ")) {
                var j = i
                while j < lines.count && !lines[j].hasSuffix("{") { j += 1 }
                let first = j + 1 < lines.count ? lines[j + 1].trimmingCharacters(in: .whitespaces) : ""
                if !first.hasSuffix("assertOnLoop()") {
                    missing.append("\(file): \(t.prefix(60))")
                }
                i = j
            }
            i += 1
        }
        return missing
    }

    func testEveryEntryPointOfALoopOwnedClassAssertsItsLoop() throws {
        let fm = FileManager.default
        var texts: [(String, String)] = []
        for folder in ["Relay", "Protocols", "Records", "Access"] {
            let dir = Self.sources.appendingPathComponent(folder)
            for name in try fm.contentsOfDirectory(atPath: dir.path).sorted() where name.hasSuffix(".swift") {
                texts.append(("\(folder)/\(name)", try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)))
            }
        }
        // The loop-owned classes: `final class X: … @unchecked Sendable`.
        var owned: Set<String> = []
        for (_, text) in texts {
            for line in text.components(separatedBy: "\n") where line.contains("@unchecked Sendable") && line.contains("final class ") {
                let rest = line.components(separatedBy: "final class ")[1]
                owned.insert(String(rest.prefix { $0.isLetter || $0.isNumber }))
            }
        }
        XCTAssertTrue(owned.isSuperset(of: ["Relay", "PassThrough", "ProxyHandler", "UpstreamPool", "ActiveRequests"]), "\(owned.sorted())")
        let missing = texts.flatMap { Self.unasserted($0.1, file: $0.0, owned: owned) }
        XCTAssertEqual(missing, [], "entry points of loop-owned classes that do not assert their loop")
    }

    /// The check itself: a method without the assertion is reported, one with it is not.
    func testTheCheckFindsAMissingAssertion() {
        let text = """
        final class Owned: @unchecked Sendable {

            func good() {
                loop.assertOnLoop()
            }
            public func bad(_ x: Int,
                            y: Int) {
                work()
            }
            private func inner() {}

            func alsoBad() {
                work()
            }
        }
        extension Owned {
            func fromAnotherFile() {
                work()
            }
        }
        extension OwnedNot {
            func notOwned() {}
        }
        """
        XCTAssertEqual(Self.unasserted(text, file: "f", owned: ["Owned"]), ["f: public func bad(_ x: Int,", "f: func alsoBad() {", "f: func fromAnotherFile() {"])
    }
}
