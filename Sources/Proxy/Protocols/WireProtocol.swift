import Reactor

/// One wire format ccload speaks (Anthropic Messages, OpenAI chat, Codex Responses,
/// Gemini): everything the proxy needs to know about it, in one type per format
/// (`AnthropicProtocol`, `OpenAIProtocol`, `CodexProtocol`, `GeminiProtocol`, each in its
/// own file). Adding a format is one new conforming type and its `ProtocolKind` case.
///
/// Every requirement is static: a format is a metatype, not a value, so a request looks its
/// format up once (`ProtocolKind.wire`) and every call after that is a direct witness call,
/// with nothing allocated and no per-call `switch`.
public protocol WireProtocol: Sendable {
    /// The channel/route kind this format is.
    static var kind: ProtocolKind { get }

    // MARK: Routes and requests

    /// The endpoint of a client `POST` to `path` (the target without its query; `target` is
    /// the whole target), or nil when the path is not one of this format's.
    static func postEndpoint(path: ArraySlice<UInt8>, target: ArraySlice<UInt8>) -> Endpoint?

    /// The upstream path for a client path (query removed) on a channel whose base URL path
    /// is `base` (trailing slashes removed). Default: the client's path.
    static func upstreamPath(endpoint: Endpoint, path: ArraySlice<UInt8>, base: ArraySlice<UInt8>) -> ArraySlice<UInt8>

    /// The model and stream flag a request carries in its target rather than its body
    /// (Gemini `/v1beta/models/{m}:streamGenerateContent`); nil (the default) when the model
    /// is the body's `model`. Throws `.noModel` when the target should name it and does not.
    static func modelInTarget(_ target: ArraySlice<UInt8>) throws(RequestScanError) -> (model: String, stream: Bool)?

    /// Sends a request to `model` instead of the client's: rewrites the body's `model` value
    /// (the default) or the model segment of the upstream `target` (Gemini).
    static func rewriteModel(target: inout [UInt8], body: inout [UInt8], info: RequestInfo, to model: String)

    /// A session identity the format's clients send in a header (Codex: `session_id`, then
    /// `conversation_id`); nil (the default) when it has none.
    static func sessionHeader<H: HTTPHeadFields>(_ head: H) -> String?

    // MARK: Credentials

    /// The header that carries a channel key upstream, and the text before the key.
    static var credentialHeader: (name: StaticString, prefix: StaticString) { get }

    // MARK: Bodies ccload writes

    /// An error body in the format's shape, for errors ccload answers itself.
    static func errorBody(status: Int, message: String) -> [UInt8]

    /// The bytes that end a stream that broke after the commit point, or nil when the format
    /// has no in-band error (Gemini: the stream just ends).
    static func streamErrorEvent(status: Int, message: String) -> [UInt8]?

    /// The `GET /v1/models` (Gemini: `GET /v1beta/models`) body for a list of model names.
    static func modelsList(_ models: [String]) -> [UInt8]

    // MARK: Answers

    /// What a streamed event means for the commit point.
    static func classify(_ event: SSEEvent) -> StreamEventClass

    /// The error a complete (non-streaming) body carries, or nil when it is not an error.
    static func bodyError(_ body: UnsafeRawBufferPointer) -> (type: String, message: String)?

    /// The HTTP status an in-band error type stands for (unknown types: 500).
    static func status(forErrorType type: String) -> Int

    // MARK: Usage

    /// Reads one streamed event's usage and model into `counts` (`UsageTap`).
    static func readUsage(event: SSEEvent, data: UnsafeRawBufferPointer, into counts: inout UsageCounts)

    /// Reads a whole non-streaming body's usage and model; `doc` is its top-level value,
    /// whose range may be taken on trust (`UsageTap` passes the body's extent without a
    /// separate pass over it): returns whether the walk covered `doc.range` exactly and found
    /// it well formed, and only then does the caller keep what was read.
    @discardableResult
    static func readUsage(body data: UnsafeRawBufferPointer, doc: JSONScan.Value, into counts: inout UsageCounts) -> Bool

    /// The normalised usage for what was read (`counts.reported` is true).
    static func usage(_ counts: UsageCounts) -> Usage

    // MARK: Admin

    /// The model a channel test uses when neither the admin nor the channel names one.
    static var probeModel: String { get }

    /// A channel test's request to `model` on a channel whose base URL path is `basePath`:
    /// the format's cheapest call (one output token, or the least the endpoint takes).
    static func probeRequest(model: String, basePath: ArraySlice<UInt8>) -> ProbeRequest
}

extension WireProtocol {
    public static func upstreamPath(endpoint: Endpoint, path: ArraySlice<UInt8>, base: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        path
    }

    public static func modelInTarget(_ target: ArraySlice<UInt8>) throws(RequestScanError) -> (model: String, stream: Bool)? { nil }

    public static func rewriteModel(target: inout [UInt8], body: inout [UInt8], info: RequestInfo, to model: String) {
        guard let r = info.modelRange else { return }
        body = RequestScan.rewriteModel(body: body, range: r, to: model)
    }

    public static func sessionHeader<H: HTTPHeadFields>(_ head: H) -> String? { nil }

    /// Prompt-minus-cache usage, the shape OpenAI, Responses and Gemini share: the reported
    /// prompt count includes the cached tokens, the extra counts add to input and output.
    public static func usage(_ c: UsageCounts) -> Usage {
        let prompt = Saturating.add(c.input, c.extraInput)
        return Usage(input: max(0, prompt - c.cached), output: Saturating.add(c.output, c.extraOutput), cacheRead: c.cached)
    }
}

extension ProtocolKind {
    /// The wire format of this kind: the one place a kind becomes its protocol type.
    @inline(__always)
    public var wire: any WireProtocol.Type {
        switch self {
        case .anthropic: return AnthropicProtocol.self
        case .openai: return OpenAIProtocol.self
        case .codex: return CodexProtocol.self
        case .gemini: return GeminiProtocol.self
        }
    }
}
