import Foundation
import Glibc
import XCTest

/// The channels file is re-read on SIGHUP: a good file is applied on top of the stored
/// channels (same name: updated; new name: added) for the next request; a bad one is
/// rejected whole, the running table stays, and the log says why.
final class RelayReloadTests: RelayCase {
    func testSIGHUPAddsAChannel() throws {
        let a = try startMock(), b = try startMock()
        let first = [channel("a", url: a.url, ["models": ["claude-a-1"]])]
        let (ccload, path) = try startRelay(first)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-b-1", stream: false)).status, 503)

        try writeChannelsFile(first + [channel("b", url: b.url, ["models": ["claude-b-1"]])], path: path)
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(ccload.process.waitForOutput("SIGHUP: 2 channels loaded", timeout: 5),
                      "no reload in the log:\n\(ccload.process.stderrText)")
        let r = try ccload.post("/v1/messages", anthropicBody(model: "claude-b-1", stream: true))
        assertCompleteAnthropicStream(r)
        XCTAssertEqual(try b.requests(), 1)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-a-1", stream: false)).status, 200)
        XCTAssertEqual(try a.requests(), 1)
    }

    func testSIGHUPWithABadFileKeepsTheRunningTable() throws {
        let a = try startMock(), b = try startMock()
        let (ccload, path) = try startRelay([channel("a", url: a.url)])
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)

        // A typo'd field in the second entry: the whole file is rejected, with the entry and field named.
        var bad = [channel("b", url: b.url), channel("c", url: b.url)]
        bad[1]["priorty"] = 3
        try writeChannelsFile(bad, path: path)
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(ccload.process.waitForOutput("the running channels stay", timeout: 5),
                      "no rejection in the log:\n\(ccload.process.stderrText)")
        let log = ccload.process.stderrText
        XCTAssertTrue(log.contains("[1]") && log.contains("priorty"), "the log does not name the entry and field:\n\(log)")
        XCTAssertFalse(log.contains("sk-secret-"), "a channel key is in the log:\n\(log)")
        for _ in 0..<3 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual(try a.requests(), 4, "the old table should still route")
        XCTAssertEqual(try b.requests(), 0, "part of a rejected file was applied")

        // Not JSON at all: still the old table.
        try Data("[{\"name\": \"x\",".utf8).write(to: URL(fileURLWithPath: path))
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(waitForCount(ccload.process, "the running channels stay", 2), ccload.process.stderrText)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try a.requests(), 5)

        // And a good file afterwards is taken: it disables "a" (stored channels stay unless
        // the file changes them) and adds "b".
        try writeChannelsFile([channel("a", url: a.url, ["enabled": false]), channel("b", url: b.url)], path: path)
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(ccload.process.waitForOutput("SIGHUP: 2 channels loaded", timeout: 5), ccload.process.stderrText)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try b.requests(), 1)
        XCTAssertEqual(try a.requests(), 5)
        XCTAssertTrue(ccload.process.isRunning)
    }

    /// Waits (bounded) until `text` occurs `count` times in the process's log.
    private func waitForCount(_ p: ProcessUnderTest, _ text: String, _ count: Int, timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if p.stderrText.components(separatedBy: text).count - 1 >= count { return true }
            usleep(10_000)
        } while Date() < deadline
        return false
    }
}
