import Reactor

/// One loop's last client address and user agent as record strings. A keep-alive client
/// sends the same ones request after request; comparing the bytes with the last request's
/// is cheaper than formatting an address and decoding (and allocating) a string each time.
/// Owner: one loop (`ProxyHandler`).
struct RecordStrings {
    private var lastPeer: SocketAddress?
    private var lastAddress = ""
    private var lastAgentBytes: [UInt8] = []
    private var lastAgent = ""

    /// `peer.ipString`, the last one's when the IP is the same.
    mutating func address(of peer: SocketAddress) -> String {
        if let last = lastPeer, last.sameIP(as: peer) { return lastAddress }
        lastPeer = peer
        lastAddress = peer.ipString
        return lastAddress
    }

    /// The record's user agent: the first `maxBytes` bytes of `value` decoded as UTF-8
    /// (invalid sequences replaced), or "" without one; the last one's when the bytes match.
    mutating func userAgent(_ value: ArraySlice<UInt8>?, maxBytes: Int = 200) -> String {
        guard let value else { return "" }
        let bytes = value.prefix(maxBytes)
        if bytes.elementsEqual(lastAgentBytes) { return lastAgent }
        lastAgentBytes = Array(bytes)
        lastAgent = String(decoding: bytes, as: UTF8.self)
        return lastAgent
    }
}
