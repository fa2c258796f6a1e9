/// The bytes the mock answers with, built once per shape and reused.
enum MockBodies {
    /// A JSON message body of exactly `size` bytes (padded inside a text field).
    static func json(size: Int, inputTokens: Int, outputTokens: Int) -> [UInt8] {
        let prefix = #"{"id":"msg_mock","type":"message","role":"assistant","model":"mock-1","content":[{"type":"text","text":""#
        let suffix = #""}],"stop_reason":"end_turn","usage":{"input_tokens":\#(inputTokens),"output_tokens":\#(outputTokens)}}"#
        let pad = max(0, size - prefix.utf8.count - suffix.utf8.count)
        return Array(prefix.utf8) + [UInt8](repeating: 0x61, count: pad) + Array(suffix.utf8)
    }

    static func messageStart(inputTokens: Int) -> [UInt8] {
        Array("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock-1\",\"content\":[],\"usage\":{\"input_tokens\":\(inputTokens),\"output_tokens\":1}}}\n\n".utf8)
    }

    static func delta(_ i: Int) -> [UInt8] {
        Array("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token\(i) \"}}\n\n".utf8)
    }

    static func messageStop(outputTokens: Int) -> [UInt8] {
        Array("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":\(outputTokens)}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".utf8)
    }

    static let sseError = Array("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".utf8)

    static func error(status: Int) -> [UInt8] {
        Array("{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"mock failure \(status)\"}}".utf8)
    }
}
