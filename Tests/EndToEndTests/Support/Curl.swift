import Foundation
import Glibc

/// What one curl run produced.
struct CurlResult {
    /// curl's exit code (0 ok, 7 cannot connect, 18 partial file, 28 timeout, ...).
    var exitCode: Int32
    /// The body (curl's standard output).
    var body: [UInt8]
    /// The response status written by `-w`, 0 when none arrived.
    var status: Int
    /// Response headers as dumped by `-D`.
    var headers: String
    var stderr: String

    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
}

/// Runs the system curl with `--max-time`; the run is also killed if it outlives that.
func curl(_ args: [String], maxTime: Double = 10) throws -> CurlResult {
    let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let dir = NSTemporaryDirectory()
    let bodyPath = dir + "ccload-curl-\(tag).body"
    let headPath = dir + "ccload-curl-\(tag).head"
    let statusPath = dir + "ccload-curl-\(tag).status"
    defer {
        for p in [bodyPath, headPath, statusPath] { try? FileManager.default.removeItem(atPath: p) }
    }
    let p = try ProcessUnderTest(
        executable: "/usr/bin/curl",
        arguments: ["-sS", "--max-time", String(maxTime), "-o", bodyPath, "-D", headPath,
                    "-w", "%{http_code}"] + args)
    guard let code = p.waitForExit(timeout: maxTime + 5) else {
        p.stop()
        throw TestFailure("curl \(args) did not exit")
    }
    let result = CurlResult(
        exitCode: code,
        body: (try? Array(Data(contentsOf: URL(fileURLWithPath: bodyPath)))) ?? [],
        status: Int(p.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
        headers: (try? String(contentsOfFile: headPath, encoding: .utf8)) ?? "",
        stderr: p.stderrText)
    p.stop()
    return result
}
