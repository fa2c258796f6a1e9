import Foundation
import Glibc

/// A blocking TCP client socket for exact byte-level checks: the test writes the bytes it
/// wants and reads what comes back, with a deadline on every read.
final class RawConnection {
    let fd: Int32
    /// Bytes received and not yet consumed by `readResponse`.
    private(set) var buffer: [UInt8] = []
    /// The peer closed (FIN or RST).
    private(set) var peerClosed = false
    private(set) var sawReset = false

    /// Connects to 127.0.0.1:`port`; throws with the errno on failure (e.g. refused).
    /// `receiveBuffer` sets SO_RCVBUF before connecting (set after, Linux keeps the window
    /// it advertised and the connection crawls once the client reads again).
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if r != 0 {
            let e = errno
            Glibc.close(fd)
            throw ConnectError(errno: e)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A send never blocks a test forever.
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Wraps a socket accepted by a test-side server (`ScriptedUpstream`).
    init(accepted fd: Int32) {
        self.fd = fd
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads one request head (through CRLFCRLF) and a Content-Length body, if any;
    /// nil on close or timeout. Removes them from the buffer.
    func readRequest(timeout: Double) -> (head: String, body: [UInt8])? {
        let deadline = Date().addingTimeInterval(timeout)
        var end: Int?
        while end == nil {
            if let r = buffer.rangeOf([13, 10, 13, 10]) { end = r.upperBound; break }
            if fill(until: deadline) != .data { return nil }
        }
        let head = String(decoding: buffer[0..<end!], as: UTF8.self)
        var length = 0
        for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while buffer.count < end! + length {
            if fill(until: deadline) != .data { return nil }
        }
        let body = Array(buffer[end!..<end! + length])
        buffer.removeFirst(end! + length)
        return (head, body)
    }

    struct ConnectError: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { "connect failed: \(String(cString: strerror(errno)))" }
    }

    deinit { Glibc.close(fd) }

    /// Sends every byte (throws when the peer is gone).
    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in
                Glibc.send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    enum Fill { case data, closed, timeout }

    /// Waits for more bytes until `deadline`; appends them to `buffer`.
    @discardableResult
    func fill(until deadline: Date) -> Fill {
        if peerClosed { return .closed }
        while true {
            let ms = Int32(max(0, min(deadline.timeIntervalSinceNow * 1000, 60_000)).rounded(.up))
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, ms)
            if r < 0 && errno == EINTR { continue }
            if r == 0 { return .timeout }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return .data
            }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n < 0 { sawReset = true }
            peerClosed = true
            return .closed
        }
    }

    /// Reads until the buffer contains `needle`; false on close or timeout.
    func readUntil(contains needle: [UInt8], timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if buffer.containsSubsequence(needle) { return true }
            if fill(until: deadline) != .data { return buffer.containsSubsequence(needle) }
        }
    }

    func readUntil(contains needle: String, timeout: Double) -> Bool {
        readUntil(contains: Array(needle.utf8), timeout: timeout)
    }

    /// Reads until the peer closes; true when it did within `timeout`.
    func readUntilClose(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            switch fill(until: deadline) {
            case .data: continue
            case .closed: return true
            case .timeout: return false
            }
        }
    }

    /// True when nothing arrives and the peer does not close for `seconds`.
    func staysQuiet(for seconds: Double) -> Bool {
        let before = buffer.count
        return fill(until: Date().addingTimeInterval(seconds)) == .timeout && buffer.count == before
    }

    /// Removes and returns everything received so far.
    func takeBuffer() -> [UInt8] {
        defer { buffer.removeAll() }
        return buffer
    }

    /// Reads one complete response (a 1xx interim response counts as one) and removes
    /// its bytes from the buffer. Throws on timeout; an early close yields a response
    /// with `complete == false`.
    func readResponse(timeout: Double = 5, requestWasHEAD: Bool = false) throws -> HTTPResponse {
        let deadline = Date().addingTimeInterval(timeout)
        let crlf2: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if let r = buffer.rangeOf(crlf2) { headEnd = r.upperBound; break }
            switch fill(until: deadline) {
            case .data: continue
            case .closed:
                throw TestFailure("connection closed before a complete response head; got \(buffer.count) bytes: \(String(decoding: buffer, as: UTF8.self).prefix(300))")
            case .timeout:
                throw TestFailure("no complete response head within \(timeout) s; got: \(String(decoding: buffer, as: UTF8.self).prefix(300))")
            }
        }
        var response = try HTTPResponse(head: Array(buffer[0..<headEnd!]))
        var pos = headEnd!

        func need(_ count: Int) throws -> Bool {
            while buffer.count - pos < count {
                switch fill(until: deadline) {
                case .data: continue
                case .closed: return false
                case .timeout: throw TestFailure("response body incomplete after \(timeout) s (status \(response.status))")
                }
            }
            return true
        }

        if response.status < 200 || response.status == 204 || response.status == 304 || requestWasHEAD {
            response.complete = true
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            response.chunked = true
            chunks: while true {
                // size line
                var lineEnd: Int?
                while lineEnd == nil {
                    if let r = buffer[pos...].rangeOf([13, 10]) { lineEnd = r.lowerBound; break }
                    if try !need(buffer.count - pos + 1) { break chunks }
                }
                let line = String(decoding: buffer[pos..<lineEnd!], as: UTF8.self)
                let sizeText = line.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw TestFailure("bad chunk size line from server: \(line)")
                }
                pos = lineEnd! + 2
                if size == 0 {
                    // trailers, then the final CRLF
                    while true {
                        var end: Int?
                        while end == nil {
                            if let r = buffer[pos...].rangeOf([13, 10]) { end = r.lowerBound; break }
                            if try !need(buffer.count - pos + 1) { break chunks }
                        }
                        let empty = end! == pos
                        pos = end! + 2
                        if empty { response.complete = true; break chunks }
                    }
                }
                if try !need(size + 2) {
                    response.body.append(contentsOf: buffer[pos..<buffer.count])
                    pos = buffer.count
                    break chunks
                }
                response.body.append(contentsOf: buffer[pos..<pos + size])
                response.chunkSizes.append(size)
                guard buffer[pos + size] == 13, buffer[pos + size + 1] == 10 else {
                    throw TestFailure("chunk data not followed by CRLF")
                }
                pos += size + 2
            }
        } else if let cl = response.header("content-length") {
            guard let n = Int(cl) else { throw TestFailure("bad Content-Length from server: \(cl)") }
            if try need(n) {
                response.body = Array(buffer[pos..<pos + n])
                pos += n
                response.complete = true
            } else {
                response.body = Array(buffer[pos...])
                pos = buffer.count
            }
        } else {
            // Until close.
            response.untilClose = true
            while true {
                switch fill(until: deadline) {
                case .data: continue
                case .closed: break
                case .timeout: throw TestFailure("body read until close did not end within \(timeout) s")
                }
                break
            }
            response.body = Array(buffer[pos...])
            pos = buffer.count
            response.complete = true
        }
        response.raw = Array(buffer[0..<pos])
        buffer.removeFirst(pos)
        return response
    }
}

/// One response as a client saw it.
struct HTTPResponse {
    var statusLine: String
    var status: Int
    var headers: [(name: String, value: String)]
    var headBytes: [UInt8]
    var body: [UInt8] = []
    var raw: [UInt8] = []
    var chunked = false
    var chunkSizes: [Int] = []
    var untilClose = false
    /// The body's proper ending arrived (length reached, last chunk, or close for until-close).
    var complete = false

    init(head: [UInt8]) throws {
        headBytes = head
        let text = String(decoding: head, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let s = Int(parts[1]) else {
            throw TestFailure("bad status line: \(statusLine)")
        }
        status = s
        headers = []
        for l in lines where !l.isEmpty {
            guard let c = l.firstIndex(of: ":") else { throw TestFailure("bad header line: \(l)") }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
    }

    var version: String { String(statusLine.prefix(8)) }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(named name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        rangeOf(needle) != nil
    }

    func rangeOf(_ needle: [UInt8]) -> Range<Int>? {
        self[...].rangeOf(needle)
    }

    var text: String { String(decoding: self, as: UTF8.self) }
}

extension ArraySlice where Element == UInt8 {
    func rangeOf(_ needle: [UInt8]) -> Range<Int>? {
        guard !needle.isEmpty, count >= needle.count else { return nil }
        var i = startIndex
        let last = endIndex - needle.count
        while i <= last {
            if self[i] == needle[0] {
                var k = 1
                while k < needle.count && self[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i..<(i + needle.count) }
            }
            i += 1
        }
        return nil
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}
