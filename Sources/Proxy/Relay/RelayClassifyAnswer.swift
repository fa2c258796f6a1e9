import Reactor

extension RelayPolicy {
    /// Hook `classifyAnswer`, for an error answer (status ≥ 400) whose body is held (up to
    /// `Relay.maxHeldErrorBytes`): pass it to the client, or fail over (`Classifier`, which
    /// reads the status, the reset hints and the body's error text for the upstream model).
    mutating func classifyAnswer(_ head: HTTPResponseHead, body: ArraySlice<UInt8>) -> Verdict {
        Classifier.classify(status: head.status, headers: head, bodyPrefix: body, model: current.upstreamModel)
    }

    /// Hook `classifyAnswer`, for a held event stream's error event before its first content
    /// event: pass the stream through, or fail over as the HTTP status its error type stands
    /// for (`WireProtocol.status(forErrorType:)`) would.
    mutating func classifyAnswer(streamErrorType type: String) -> (verdict: Verdict, status: Int) {
        (Classifier.classify(sseErrorType: type), wire.status(forErrorType: type))
    }
}

extension RelayPolicy {
    /// Hook `classifyAnswer`, for no answer at all: a transport failure (refused, reset, DNS,
    /// TLS, egress proxy, a malformed response) cools the channel as a connection failure.
    mutating func classifyAnswer(transportError error: TransportError) -> (FailureClass, ScopeKind) {
        Classifier.classify(transportError: error)
    }

    /// Hook `classifyAnswer`, for an answer that came too slowly: no head, no content or no
    /// end of an error answer within the first-byte timeout, or a stall before the commit point.
    mutating func classifyTimeout() -> (FailureClass, ScopeKind) {
        Classifier.classifyFirstByteTimeout()
    }
}
