import Foundation
import Glibc
import XCTest

/// A tiny tmpfs of a test's own, to run ccload's database on and fill to the last byte.
/// Needs mount privileges: `mount` throws `XCTSkip` where it cannot mount one.
extension StoreE2ECase {
    func runTool(_ path: String, _ args: [String]) throws -> (Int32, String) {
        let p = try ProcessUnderTest(executable: path, arguments: args)
        defer { p.stop() }
        guard let s = p.waitForExit(timeout: 10) else { throw TestFailure("\(path) \(args) did not finish in 10 s") }
        return (s, p.stderrText + p.stdoutText)
    }

    /// Mounts a tmpfs of `size` on a new folder (unmounted and removed at tear-down); returns the folder.
    func mountSmallDisk(size: String = "2m") throws -> String {
        let dir = NSTemporaryDirectory() + "ccload-store-e2e-full-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        let (rc, out) = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir])
        if rc != 0 {
            try? FileManager.default.removeItem(atPath: dir)
            throw XCTSkip("cannot mount a small tmpfs here (\(out.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        onTearDown { [self] in
            if (try? runTool("/bin/umount", [dir]))?.0 != 0 { _ = try? runTool("/bin/umount", ["-l", dir]) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        return dir
    }

    /// Fills the filesystem of `dir` to the last byte with a file; returns its path (remove
    /// it to make room again).
    @discardableResult
    func fillDisk(_ dir: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let filler = dir + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0, file: file, line: line)
        var chunk = [UInt8](repeating: 0x5A, count: 4096)
        var filled = 0
        while filled < 4 << 20 {
            let n = write(fd, &chunk, chunk.count)
            if n <= 0 { break }
            filled += n
        }
        var one: UInt8 = 0
        while write(fd, &one, 1) == 1 { filled += 1 }
        close(fd)
        XCTAssertLessThan(filled, 4 << 20, "the tmpfs never filled", file: file, line: line)
        return filler
    }
}
