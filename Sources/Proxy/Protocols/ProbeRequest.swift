/// A channel test's request in one wire format (`WireProtocol.probeRequest`): the format's
/// cheapest call, as the client request it stands for. The admin's channel test maps its
/// path onto the channel's base URL (`ProtocolRules.upstreamTarget`) and adds the channel's
/// credential, as the relay would.
public struct ProbeRequest: Sendable {
    /// The client endpoint it stands for.
    public var endpoint: Endpoint
    /// The client path (before the channel's base path is applied).
    public var clientPath: [UInt8]
    /// The JSON body.
    public var body: [UInt8]
    /// Header fields the format requires beside the credential (Anthropic's `anthropic-version`).
    public var headers: [(name: StaticString, value: StaticString)]

    public init(endpoint: Endpoint, clientPath: [UInt8], body: [UInt8], headers: [(name: StaticString, value: StaticString)] = []) {
        self.endpoint = endpoint
        self.clientPath = clientPath
        self.body = body
        self.headers = headers
    }

    /// `{"max_tokens":1,"messages":[{"content":"hi","role":"user"}],"model":"…"}`: one output
    /// token of a one-word chat (Messages and chat completions).
    static func oneTokenChat(model: String) -> [UInt8] {
        var out: [UInt8] = Array(#"{"max_tokens":1,"messages":[{"content":"hi","role":"user"}],"model":""#.utf8)
        JSONString.appendEscaped(&out, model)
        out.append(contentsOf: #""}"#.utf8)
        return out
    }
}
