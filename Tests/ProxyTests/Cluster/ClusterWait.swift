import Glibc
import Reactor
import XCTest

/// Waits (bounded) until `done` holds, polling every 5 ms; fails the test at the deadline.
func waitUntil(_ what: String, within seconds: Double = 5, file: StaticString = #filePath, line: UInt = #line,
               _ done: () -> Bool) {
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    while !done() {
        if monotonicNanos() > deadline { return XCTFail("timed out waiting for \(what)", file: file, line: line) }
        usleep(5_000)
    }
}
