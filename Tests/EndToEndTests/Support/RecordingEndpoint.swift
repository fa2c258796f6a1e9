import Foundation

/// A keep-alive HTTP endpoint on 127.0.0.1 for webhook and probe tests: every request's
/// path, head and body are recorded; `answer` (changeable while it runs) says what each
/// gets: a status and body, or nothing at all (the connection stays quiet for `hang` s).
final class RecordingEndpoint: @unchecked Sendable {
    struct Seen {
        let path: String
        let head: String
        let body: String
    }

    enum Answer {
        case status(Int, String)
        case hang(Double)
    }

    private let lock = NSLock()
    private var seen: [Seen] = []
    private var answerFor: @Sendable (_ path: String, _ count: Int) -> Answer
    private(set) var server: ScriptedUpstream!

    var url: String { "http://127.0.0.1:\(server.port)" }

    init(_ case_: EndToEndCase, answer: @escaping @Sendable (_ path: String, _ count: Int) -> Answer) throws {
        answerFor = answer
        // Weak: the server outlives this endpoint until the test's tear-down (see OAuthMock).
        server = try case_.startScripted { [weak self] conn, _, _ in
            while let req = conn.readRequest(timeout: 30) {
                guard let self else { return }
                let line = req.head.components(separatedBy: "\r\n").first ?? ""
                let path = line.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                let a: Answer = lock.withLock {
                    seen.append(Seen(path: path, head: req.head, body: String(decoding: req.body, as: UTF8.self)))
                    return answerFor(path, seen.filter { $0.path == path }.count)
                }
                switch a {
                case .status(let s, let body):
                    let text = "HTTP/1.1 \(s) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
                    if (try? conn.send(text)) == nil { return }
                case .hang(let seconds):
                    _ = conn.staysQuiet(for: seconds)
                    return
                }
            }
        }
    }

    func setAnswer(_ a: @escaping @Sendable (_ path: String, _ count: Int) -> Answer) {
        lock.withLock { answerFor = a }
    }

    var requests: [Seen] { lock.withLock { seen } }

    /// Requests whose path starts with `prefix`.
    func requests(_ prefix: String) -> [Seen] { requests.filter { $0.path.hasPrefix(prefix) } }

    /// Waits until `condition` holds of the requests (or the deadline passes); returns it.
    @discardableResult
    func wait(timeout: Double, _ condition: ([Seen]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(requests) { return true }
            usleep(20_000)
        }
        return condition(requests)
    }
}
