import Foundation
import Glibc

/// An upstream that answers every request with whatever bytes the test set last: a canned
/// response cut after any byte (by FIN or by RST), dripped a byte at a time, or followed by
/// silence. The plan is read per request, so a test changes it between requests on one
/// ccload; connections that end cleanly stay open for the next request (keep-alive).
final class HostileUpstream: @unchecked Sendable {
    /// How a cut ends the connection.
    enum Ending: String {
        /// close(): FIN after the bytes sent.
        case close
        /// close() with SO_LINGER 0: RST (the peer may lose what it had not read yet).
        case reset
        /// Keeps the connection open and says nothing more, until the peer closes (bounded).
        case silence
    }

    struct Plan {
        var bytes: [UInt8]
        /// Send only `bytes[0..<cut]`, then end as `ending`; nil sends everything and keeps
        /// the connection for the next request.
        var cut: Int? = nil
        var ending = Ending.close
        /// Pause between single-byte writes (nil: one write per plan).
        var dripMicros: UInt32? = nil
        /// How long `.silence` waits for the peer to close.
        var silenceSeconds: Double = 30
        /// Send `bytes[0..<at]`, wait, then the rest: the rest arrives in a read of its own.
        var pause: (at: Int, micros: UInt32)? = nil
        /// Answer right after the request head, without reading its body (an early answer).
        var answerBeforeBody = false
    }

    private let lock = NSLock()
    private var plan: Plan
    private var heads: [String] = []
    private var server: ScriptedUpstream!

    init(_ initial: Plan) throws {
        plan = initial
        // Weak: a connection accepted while this upstream is being released must not reach it.
        server = try ScriptedUpstream { [weak self] conn, _, _ in self?.serve(conn) }
    }

    var port: Int { server.port }
    var url: String { "http://127.0.0.1:\(server.port)" }
    var acceptedCount: Int { server.acceptedCount }

    func set(_ p: Plan) {
        lock.lock(); plan = p; lock.unlock()
    }

    /// The request heads received so far (for checks on what ccload forwarded).
    var requestHeads: [String] {
        lock.lock(); defer { lock.unlock() }
        return heads
    }

    func stop() { server.stop() }

    private func serve(_ conn: RawConnection) {
        while true {
            lock.lock()
            let early = plan.answerBeforeBody
            lock.unlock()
            let head: String
            if early {
                guard conn.readUntil(contains: "\r\n\r\n", timeout: 10) else { return }
                head = conn.buffer.text
            } else {
                guard let req = conn.readRequest(timeout: 10) else { return }
                head = req.head
            }
            lock.lock()
            let p = plan
            heads.append(head)
            lock.unlock()
            let end = min(p.cut ?? p.bytes.count, p.bytes.count)
            let out = end == p.bytes.count ? p.bytes : Array(p.bytes[0..<end])
            if let d = p.dripMicros {
                for b in out {
                    guard (try? conn.send([b])) != nil else { return }
                    usleep(d)
                }
            } else if let (at, micros) = p.pause, at < out.count {
                guard (try? conn.send(Array(out[0..<at]))) != nil else { return }
                usleep(micros)
                guard (try? conn.send(Array(out[at...]))) != nil else { return }
            } else if !out.isEmpty {
                guard (try? conn.send(out)) != nil else { return }
            }
            guard p.cut != nil else { continue }
            switch p.ending {
            case .close:
                return  // the RawConnection's deinit closes the fd: FIN
            case .reset:
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
                return
            case .silence:
                _ = conn.readUntilClose(timeout: p.silenceSeconds)
                return
            }
        }
    }
}

/// Canned upstream answers, small enough to cut at every byte offset.
enum CannedResponse {
    /// An event stream chunked one event per chunk; it commits once the event at
    /// `commitIndex` (the first content event) is complete.
    static func eventStream(_ events: [String], commitIndex: Int) -> (bytes: [UInt8], commitAt: Int) {
        var out = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var commitAt = 0
        for (i, e) in events.enumerated() {
            out += Array((String(e.utf8.count, radix: 16) + "\r\n").utf8)
            out += Array(e.utf8)
            // The first content event is complete (its blank line arrived) here.
            if i == commitIndex { commitAt = out.count }
            out += [13, 10]
        }
        out += Array("0\r\n\r\n".utf8)
        return (out, commitAt)
    }

    /// An Anthropic event stream: message_start, one content_block_delta (the commit
    /// point), message_delta with usage, message_stop. `usage` is the message_delta's usage.
    static func anthropicStream(text: String = "hostile-token", inputTokens: String = "11",
                                usage: String = #"{"output_tokens":7}"#) -> (bytes: [UInt8], commitAt: Int) {
        eventStream([
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_hostile\",\"usage\":{\"input_tokens\":\(inputTokens)}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\(text)\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":\(usage)}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ], commitIndex: 1)
    }

    /// An OpenAI chat stream: a role chunk, a content chunk (the commit point), the finish,
    /// the usage chunk and `[DONE]`.
    static func openAIChatStream(usage: String = #"{"prompt_tokens":11,"completion_tokens":7}"#) -> (bytes: [UInt8], commitAt: Int) {
        let c = #"data: {"id":"c","object":"chat.completion.chunk","choices":"#
        return eventStream([
            c + #"[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"# + "\n\n",
            c + #"[{"index":0,"delta":{"content":"hostile-token"},"finish_reason":null}]}"# + "\n\n",
            c + #"[{"index":0,"delta":{},"finish_reason":"stop"}]}"# + "\n\n",
            c + #"[],"usage":\#(usage)}"# + "\n\n",
            "data: [DONE]\n\n",
        ], commitIndex: 1)
    }

    /// A Responses (Codex) stream: response.created, one output_text.delta (the commit
    /// point), response.completed with usage.
    static func responsesStream(usage: String = #"{"input_tokens":11,"output_tokens":7}"#) -> (bytes: [UInt8], commitAt: Int) {
        eventStream([
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\"}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hostile-token\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"usage\":\(usage)}}\n\n",
        ], commitIndex: 1)
    }

    /// A Gemini SSE stream: a usage-only chunk, a candidate (the commit point), the final
    /// candidate with usage.
    static func geminiStream(usage: String = #"{"promptTokenCount":11,"candidatesTokenCount":7}"#) -> (bytes: [UInt8], commitAt: Int) {
        eventStream([
            "data: {\"usageMetadata\":{\"promptTokenCount\":11}}\n\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hostile-token\"}],\"role\":\"model\"}}]}\n\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],\"usageMetadata\":\(usage)}\n\n",
        ], commitIndex: 1)
    }

    /// A long Anthropic event stream: about `megabytes` MB of 1 KB content events.
    static func longAnthropicStream(megabytes: Int) -> [UInt8] {
        var (out, _) = anthropicStream()
        out.removeLast(5)  // the last chunk goes after the long part
        let text = String(repeating: "x", count: 940)
        let e = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\(text)\"}}\n\n"
        let chunk = Array((String(e.utf8.count, radix: 16) + "\r\n" + e + "\r\n").utf8)
        out.reserveCapacity(out.count + chunk.count * megabytes * 1000 + 5)
        for _ in 0..<(megabytes * 1000) { out += chunk }
        out += Array("0\r\n\r\n".utf8)
        return out
    }

    /// A non-streaming Messages answer with a Content-Length body; it commits at the end
    /// of its head.
    static func anthropicMessage(text: String = "hostile-token", usage: String = #"{"input_tokens":11,"output_tokens":7}"#,
                                 chunked: Bool = false) -> (bytes: [UInt8], commitAt: Int) {
        let body = #"{"id":"msg_hostile","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"\#(text)"}],"stop_reason":"end_turn","usage":\#(usage)}"#
        var head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: \(body.utf8.count)\r\n\r\n"
        var out = Array(head.utf8)
        let commitAt = out.count
        if chunked {
            // Two chunks, so a cut can land in a chunk-size line in the middle.
            let half = body.utf8.count / 2
            let a = Array(body.utf8.prefix(half)), b = Array(body.utf8.dropFirst(half))
            for part in [a, b] {
                out += Array((String(part.count, radix: 16) + "\r\n").utf8) + part + [13, 10]
            }
            out += Array("0\r\n\r\n".utf8)
        } else {
            out += Array(body.utf8)
        }
        return (out, commitAt)
    }
}
