/// Finds one byte string in a response body that arrives in pieces (reads, de-chunked
/// pieces): a streaming Knuth–Morris–Pratt search, so a match split across pieces is found
/// and no piece is buffered. `--first-match` times the first `content_block_delta` with it.
/// One per connection, reset per exchange; no allocation after `init`.
struct BodyMatch: Sendable {
    let needle: [UInt8]
    /// failure[i]: length of the longest proper prefix of needle[0...i] that is also its suffix.
    private let failure: [Int]
    /// Needle bytes matched at the end of what was fed so far (`needle.count` once found).
    private(set) var matched = 0

    var found: Bool { matched == needle.count }

    /// `needle` must not be empty.
    init(_ needle: [UInt8]) {
        precondition(!needle.isEmpty, "BodyMatch needs a non-empty needle")
        self.needle = needle
        var f = [Int](repeating: 0, count: needle.count)
        var k = 0
        for i in 1..<max(1, needle.count) {
            while k > 0 && needle[i] != needle[k] { k = f[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            f[i] = k
        }
        failure = f
    }

    /// Starts over for the next exchange.
    mutating func reset() { matched = 0 }

    /// Feeds the next piece of the body; true once the needle has been seen, in this
    /// piece or an earlier one (later pieces are then not scanned).
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if found { return true }
        var k = matched
        let n = needle.count
        for b in bytes {
            while k > 0 && b != needle[k] { k = failure[k - 1] }
            if b == needle[k] {
                k += 1
                if k == n { matched = n; return true }
            }
        }
        matched = k
        return false
    }
}
