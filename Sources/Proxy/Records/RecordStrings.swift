import Glibc
import Reactor

/// One loop's last client address, user agent and path as record strings. A keep-alive
/// client sends the same ones request after request; comparing the bytes with the last
/// request's is cheaper than formatting an address and decoding (and allocating) a string
/// each time (a path such as `/v1/chat/completions` is past the 15 bytes a `String` holds
/// inline). Owner: one loop (`ProxyHandler`).
struct RecordStrings {
    private var lastPeer: SocketAddress?
    private var lastAddress = ""
    private var agent = LastDecoded()
    private var path = LastDecoded()

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
        return agent.text(value.prefix(maxBytes))
    }

    /// The record's path: the request target up to its query, decoded as `userAgent` is.
    mutating func path(ofTarget target: ArraySlice<UInt8>) -> String {
        path.text(target.prefix { $0 != 0x3F })
    }
}

/// The last bytes decoded and their text.
private struct LastDecoded {
    private var bytes: [UInt8] = []
    private var decoded = ""

    mutating func text(_ b: ArraySlice<UInt8>) -> String {
        // One memcmp (`elementsEqual` on a slice and an array went byte by byte: ~600
        // instructions for a user agent).
        if b.count == bytes.count, b.withUnsafeBytes({ x in bytes.withUnsafeBytes { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }) {
            return decoded
        }
        bytes = Array(b)
        decoded = String(decoding: b, as: UTF8.self)
        return decoded
    }
}
