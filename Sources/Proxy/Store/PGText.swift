/// The text work of the PostgreSQL connection that needs no server: SQLite placeholders
/// turned into PostgreSQL's, a URL's password hidden, libpq's messages made one line.
extension PGConnection {
    /// `sql` with SQLite's placeholders written as PostgreSQL's: `?NNN` becomes `$NNN`, and a
    /// bare `?` becomes one more than the largest number given so far (SQLite's rule), so
    /// `VALUES(?, ?, ?7, ?)` is `VALUES($1, $2, $7, $8)`. Text inside '…', "…", $tag$…$tag$,
    /// `--` and `/* */` comments is left alone; PostgreSQL's own `$n` is kept. Also returns
    /// the largest number, the count of parameters the statement takes.
    static func rewritePlaceholders(_ sql: String) throws -> (sql: String, parameterCount: Int) {
        let src = Array(sql.utf8)
        guard src.contains(UInt8(ascii: "?")) || src.contains(UInt8(ascii: "$")) else { return (sql, 0) }
        var out: [UInt8] = []
        out.reserveCapacity(src.count + src.count / 8)
        var largest = 0
        var i = 0
        let n = src.count
        /// Copies through the first `close` at or after `from` (or to the end).
        func copy(through close: [UInt8], from: Int) -> Int {
            var j = from
            while j < n {
                if src[j] == close[0], j + close.count <= n, Array(src[j..<j + close.count]) == close {
                    j += close.count
                    out.append(contentsOf: src[i..<j])
                    return j
                }
                j += 1
            }
            out.append(contentsOf: src[i..<n])
            return n
        }
        while i < n {
            let c = src[i]
            let next: UInt8 = i + 1 < n ? src[i + 1] : 0
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                // A doubled quote inside closes and reopens: the same walk copies it.
                i = copy(through: [c], from: i + 1)
            case UInt8(ascii: "-") where next == UInt8(ascii: "-"):
                i = copy(through: [UInt8(ascii: "\n")], from: i + 2)
            case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                i = copy(through: Array("*/".utf8), from: i + 2)
            case UInt8(ascii: "$") where isDigit(next) && !(i > 0 && isIdentifierByte(src[i - 1])):
                // PostgreSQL's own $n, written as is: counted.
                var j = i + 1
                var number = 0
                while j < n, isDigit(src[j]), number <= 65535 {
                    number = number * 10 + Int(src[j] - UInt8(ascii: "0"))
                    j += 1
                }
                largest = max(largest, number)
                out.append(contentsOf: src[i..<j])
                i = j
            case UInt8(ascii: "$") where !(i > 0 && isIdentifierByte(src[i - 1])):
                var j = i + 1
                while j < n, isIdentifierByte(src[j]), src[j] != UInt8(ascii: "$"),
                      !(j == i + 1 && isDigit(src[j])) {
                    j += 1
                }
                if j < n, src[j] == UInt8(ascii: "$") {
                    let tag = Array(src[i...j])
                    i = copy(through: tag, from: j + 1)
                } else {
                    out.append(c)
                    i += 1
                }
            case UInt8(ascii: "?"):
                var j = i + 1
                var number = 0
                while j < n, isDigit(src[j]) {
                    number = number * 10 + Int(src[j] - UInt8(ascii: "0"))
                    guard number <= 65535 else {
                        throw StoreError(.invalid, "\(sqlHead(sql)): placeholder number too large (PostgreSQL takes 65535 parameters)")
                    }
                    j += 1
                }
                if j == i + 1 {
                    number = largest + 1
                } else if number == 0 {
                    throw StoreError(.invalid, "\(sqlHead(sql)): placeholder ?0 (numbers start at 1)")
                }
                largest = max(largest, number)
                out.append(UInt8(ascii: "$"))
                out.append(contentsOf: String(number).utf8)
                i = j
            default:
                out.append(c)
                i += 1
            }
        }
        return (String(decoding: out, as: UTF8.self), largest)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func isIdentifierByte(_ c: UInt8) -> Bool {
        isDigit(c) || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "$") || c >= 0x80
    }

    /// The first line of `sql`, at most 80 characters: names a statement in messages.
    static func sqlHead(_ sql: String) -> String {
        let first = sql.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? sql
        return String(first.trimmingLeadingSpaces().prefix(80))
    }

    /// `url` with its password replaced by `***`: the one in the user part
    /// (`postgres://user:***@host/db`) and any `password=` parameter. Everything between the
    /// first `:` of the user part and the last `@` before the query is taken as the password,
    /// so a password holding an unencoded `@` or `/` is hidden whole.
    public static func redact(_ url: String) -> String {
        var s = url
        if let spelled = passwordInUserPart(url) {
            s.replaceSubrange(spelled.range, with: "***")
        }
        return redactPasswordParameters(s)
    }

    /// Where the password of the user part is, and its text as written (still percent-encoded).
    static func passwordInUserPart(_ url: String) -> (range: Range<String.Index>, text: String)? {
        guard let scheme = url.firstRange(of: "://") else { return nil }
        let rest = url[scheme.upperBound...]
        let beforeQuery = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        guard let at = beforeQuery.lastIndex(of: "@") else { return nil }
        let userPart = rest[rest.startIndex..<at]
        guard let colon = userPart.firstIndex(of: ":") else { return nil }
        let start = url.index(after: colon)
        guard start < at else { return nil }
        return (start..<at, String(url[start..<at]))
    }

    /// `password=VALUE` (in a URL's query or a key=value connection string) as `password=***`.
    private static func redactPasswordParameters(_ s: String) -> String {
        var out = ""
        var rest = Substring(s)
        while let r = rest.firstRange(of: "password=") {
            let before = rest[..<r.lowerBound]
            let boundary = before.last.map { $0 == "?" || $0 == "&" || $0 == " " } ?? true
            out += before
            out += "password="
            rest = rest[r.upperBound...]
            guard boundary else { continue }
            let end = rest.firstIndex { $0 == "&" || $0 == " " || $0 == "#" } ?? rest.endIndex
            if end > rest.startIndex { out += "***" }
            rest = rest[end...]
        }
        return out + rest
    }

    /// `text` with %XX escapes decoded (a malformed escape is kept as written).
    static func percentDecoded(_ text: String) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count,
               let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// libpq's message (several lines, tab-indented hints, a LOCATION line in verbose mode)
    /// as one line.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.replacingTabs() }
            .filter { !$0.hasPrefix("LOCATION:") && !$0.isEmpty }
        var out = ""
        var lastSpace = true
        for ch in lines.joined(separator: " ") {
            if ch == " " {
                if lastSpace { continue }
                lastSpace = true
            } else {
                lastSpace = false
            }
            out.append(ch)
        }
        while out.last == " " { out.removeLast() }
        return out
    }

    /// The SQLSTATE in a verbose libpq message ("… failed: FATAL:  28P01: password …"):
    /// five digits or capitals, at least one a digit (a severity word has none), after a
    /// space and before ": ".
    static func sqlState(inMessage message: String) -> String? {
        let b = Array(message.utf8)
        guard b.count >= 8 else { return nil }
        func codeByte(_ c: UInt8) -> Bool {
            isDigit(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
        }
        var i = 1
        while i + 6 < b.count {
            if b[i - 1] == UInt8(ascii: " "), b[i + 5] == UInt8(ascii: ":"), b[i + 6] == UInt8(ascii: " "),
               b[i..<i + 5].allSatisfy(codeByte), b[i..<i + 5].contains(where: isDigit) {
                return String(decoding: b[i..<i + 5], as: UTF8.self)
            }
            i += 1
        }
        return nil
    }

    /// The store's error kind for a PostgreSQL SQLSTATE.
    static func kind(sqlState: String?) -> StoreError.Kind {
        guard let s = sqlState, s.utf8.count == 5 else { return .other }
        if s.hasPrefix("23") { return .constraint }
        if s.hasPrefix("08") || s == "57P01" || s == "57P02" || s == "57P03" { return .unavailable }
        if s == "53100" { return .full }
        if s.hasPrefix("28") || s == "3D000" { return .cannotOpen }
        if s.hasPrefix("22") { return .invalid }
        return .other
    }
}

extension StringProtocol {
    fileprivate func trimmingLeadingSpaces() -> SubSequence {
        self[(firstIndex { $0 != " " && $0 != "\t" } ?? endIndex)...]
    }

    fileprivate func replacingTabs() -> String {
        String(map { $0 == "\t" ? " " : $0 })
    }
}
