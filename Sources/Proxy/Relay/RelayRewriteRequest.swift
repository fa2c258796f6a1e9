import Reactor

extension RelayPolicy {
    /// Hook `rewriteRequest`: the request the current try sends, from the client's. The
    /// target is mapped onto the channel's base path (`ProtocolRules.upstreamTarget`); a
    /// redirected model is written into the body or, for a format that carries it in the
    /// path, the target (`WireProtocol.rewriteModel`); every client credential is dropped and
    /// the channel key put where its format wants it (`HeaderRewriter.upstreamRequest`).
    mutating func rewriteRequest(_ request: HTTPRequest) -> (head: [UInt8], body: [UInt8]) {
        var path = ProtocolRules.upstreamTarget(route: route, clientTarget: request.head.targetBytes, basePath: target.pathPrefix[...])
        var body = request.body
        if current.upstreamModel != info.model {
            wire.rewriteModel(target: &path, body: &body, info: info, to: current.upstreamModel)
        }
        let credential: HeaderRewriter.Credential
        if channel.account != nil, let a = handler.accounts[channel.id] {
            credential = .account(fields: a.fields, beta: a.beta)
        } else {
            credential = .channel(channel.kind, channel.keys[keyIndex].secretBytes)
        }
        let head = HeaderRewriter.upstreamRequest(request.head, target: path, hostHeader: target.hostHeader,
                                                  credential: credential, bodyLength: body.count)
        return (head, body)
    }
}
