import Glibc

/// Line-oriented log to standard error: one write(2) per line, so lines from
/// different threads never interleave. Not for the per-request hot path.
public enum Log {
    public static func info(_ message: String) { emit("info", message) }
    public static func warn(_ message: String) { emit("warn", message) }
    public static func error(_ message: String) { emit("error", message) }

    private static func emit(_ level: StaticString, _ message: String) {
        var t = time_t(wallClockMillis() / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        var stamp = [UInt8](repeating: 0, count: 32)
        let n = stamp.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { strftime($0.baseAddress, $0.count, "%Y-%m-%dT%H:%M:%SZ", &tm) }
        }
        let line = "\(String(decoding: stamp[0..<n], as: UTF8.self)) \(level) \(message)\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
