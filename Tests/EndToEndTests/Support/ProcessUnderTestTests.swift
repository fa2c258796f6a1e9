import Glibc
import XCTest

/// The harness itself: every child a test starts gets its output files closed in the test
/// process, and a descriptor leak in the tests is named before Foundation trips over it.
final class ProcessUnderTestTests: XCTestCase {
    func testStartingAChildLeavesNoDescriptorOpenInTheTestProcess() throws {
        let before = ProcessUnderTest.openDescriptorCount()
        for _ in 0..<5 {
            let p = try ProcessUnderTest(executable: "/bin/true")
            _ = p.waitForExit(timeout: 10)
            p.stop()
        }
        // Foundation's own pipes for the termination handler may take a moment to go.
        var after = ProcessUnderTest.openDescriptorCount()
        for _ in 0..<100 where after > before {
            usleep(10_000)
            after = ProcessUnderTest.openDescriptorCount()
        }
        XCTAssertLessThanOrEqual(after, before, "five short-lived children left descriptors open")
    }

    func testADescriptorLeakIsNamedBeforeAChildStarts() throws {
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        while ProcessUnderTest.openDescriptorCount() < 1_000 {
            let fd = open("/dev/null", O_RDONLY)
            guard fd >= 0 else { throw XCTSkip("cannot open 1,000 descriptors here (errno \(errno))") }
            held.append(fd)
        }
        XCTAssertThrowsError(try ProcessUnderTest(executable: "/bin/true")) { error in
            XCTAssertTrue("\(error)".contains("open descriptors"), "\(error)")
        }
        for fd in held { close(fd) }
        held = []
        let p = try ProcessUnderTest(executable: "/bin/true")
        XCTAssertEqual(p.waitForExit(timeout: 10), 0)
        p.stop()
    }
}
