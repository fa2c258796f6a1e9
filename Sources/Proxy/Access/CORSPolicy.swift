import Reactor

/// Which browser origins may call the proxy's routes (`/v1…`) and what they are told:
/// built from the `cors_allowed_origins` and `cors_allow_credentials` settings, off when
/// no origin is listed. Immutable; each loop's handler holds the one in force.
///
/// A request whose `Origin` is allowed gets `Access-Control-Allow-Origin` (its own origin
/// echoed, or `*` when the list is `*`), `Vary: Origin` and the exposed headers; a preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) is answered 200 with the allowed
/// methods, headers and max-age. A disallowed or missing origin gets no CORS header.
/// `*` is never combined with `Access-Control-Allow-Credentials` (the settings refuse it).
public struct CORSPolicy: Sendable, Equatable {
    /// Exact origins, lowercased (`https://app.example.com`, `http://localhost:3000`).
    public let origins: [[UInt8]]
    /// `*`: any origin, never with credentials.
    public let anyOrigin: Bool
    public let allowCredentials: Bool

    public static let off = CORSPolicy(origins: [], anyOrigin: false, allowCredentials: false)

    /// How long a browser may cache a preflight answer.
    public static let maxAgeSeconds = 600
    static let allowedMethods: StaticString = "GET, POST, OPTIONS"
    /// Allowed request headers when the preflight names none ccload will echo.
    static let defaultAllowedHeaders: StaticString =
        "authorization, content-type, x-api-key, x-goog-api-key, anthropic-version, anthropic-beta, x-request-id, x-ccload-session"
    static let exposedHeaders: StaticString = "x-request-id, x-upstream-request-id, retry-after"
    /// Longest `Access-Control-Request-Headers` echoed back.
    public static let maxEchoedHeaderBytes = 1024

    public var enabled: Bool { anyOrigin || !origins.isEmpty }

    init(origins: [[UInt8]], anyOrigin: Bool, allowCredentials: Bool) {
        self.origins = origins
        self.anyOrigin = anyOrigin
        self.allowCredentials = allowCredentials
    }

    /// From the settings' text: origins separated by commas (spaces around them ignored), or
    /// `*`; `none` or empty: off. Throws a message naming what is wrong.
    public init(origins text: String, allowCredentials: Bool) throws(CORSPolicyError) {
        var list: [[UInt8]] = []
        var any = false
        let off = text.split(separator: ",").allSatisfy { $0.trimmingSpaces.isEmpty || $0.trimmingSpaces.lowercased() == "none" }
        for raw in off ? [] : text.split(separator: ",") {
            let item = raw.trimmingSpaces
            if item.isEmpty { continue }
            if item == "*" {
                any = true
                continue
            }
            guard let origin = Self.origin(item) else { throw .badOrigin(String(item)) }
            if !list.contains(origin) { list.append(origin) }
        }
        if any && !list.isEmpty { throw .wildcardWithOthers }
        if any && allowCredentials { throw .wildcardWithCredentials }
        self.init(origins: list, anyOrigin: any, allowCredentials: allowCredentials)
    }

    /// `scheme://host[:port]` (http or https, no path, no user info), lowercased; else nil.
    static func origin(_ s: Substring) -> [UInt8]? {
        let lower = Array(s.utf8).map(ASCII.lower)
        let scheme: Int
        if lower.starts(with: Array("https://".utf8)) { scheme = 8 } else if lower.starts(with: Array("http://".utf8)) { scheme = 7 } else { return nil }
        let authority = lower[scheme...]
        guard !authority.isEmpty, authority.count <= 253 + 6 else { return nil }
        var colon: Int?
        for (i, b) in zip(authority.indices, authority) {
            switch b {
            case 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E: continue  // a-z 0-9 - .
            case 0x3A where colon == nil: colon = i
            default: return nil  // a path, user info, brackets, spaces …
            }
        }
        if let c = colon {
            let port = authority[(c + 1)...]
            guard c > authority.startIndex, !port.isEmpty, port.count <= 5, port.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let n = Int(String(decoding: port, as: UTF8.self)), (1...65535).contains(n) else { return nil }
        }
        return lower
    }

    /// Whether `origin` (the request's `Origin` value) may call.
    public func allows(_ origin: ArraySlice<UInt8>) -> Bool {
        if anyOrigin { return true }
        for o in origins where ASCII.equalsIgnoringCase(origin, o[...]) { return true }
        return false
    }

    /// Whether `head` is a preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    public static func isPreflight(_ head: HTTPRequestHead) -> Bool {
        head.methodIs("OPTIONS") && head.value("origin") != nil && head.value("access-control-request-method") != nil
    }

    /// The CORS fields for the answer to `head` (appended to `out`, which is emptied first),
    /// or nothing when CORS is off or the origin is not allowed. Returns whether the origin
    /// is allowed.
    @discardableResult
    public func fields(for head: HTTPRequestHead, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        guard enabled else { return false }
        // Caches must not hand one origin's answer to another.
        if !anyOrigin { HTTP1Writer.appendHeader(&out, name: "Vary", value: "Origin") }
        guard let origin = head.value("origin"), allows(origin) else { return false }
        if anyOrigin {
            HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Origin", value: "*")
        } else {
            HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Origin", value: origin)
            if allowCredentials { HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Credentials", value: "true") }
        }
        if Self.isPreflight(head) {
            HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Methods", value: Self.allowedMethods)
            if let asked = head.value("access-control-request-headers"), Self.echoable(asked) {
                HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Headers", value: asked)
            } else {
                HTTP1Writer.appendHeader(&out, name: "Access-Control-Allow-Headers", value: Self.defaultAllowedHeaders)
            }
            HTTP1Writer.appendHeader(&out, name: "Access-Control-Max-Age", value: Self.maxAgeSeconds)
        } else {
            HTTP1Writer.appendHeader(&out, name: "Access-Control-Expose-Headers", value: Self.exposedHeaders)
        }
        return true
    }

    /// A requested header list ccload echoes: 1…`maxEchoedHeaderBytes` of header-name
    /// characters, commas and spaces.
    static func echoable(_ v: ArraySlice<UInt8>) -> Bool {
        guard !v.isEmpty, v.count <= maxEchoedHeaderBytes else { return false }
        for b in v {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E, 0x2C, 0x20: continue
            default: return false
            }
        }
        return true
    }
}

/// Why the CORS settings do not make a policy.
public enum CORSPolicyError: Error, Equatable, CustomStringConvertible {
    case badOrigin(String)
    case wildcardWithOthers
    case wildcardWithCredentials

    public var description: String {
        switch self {
        case .badOrigin(let o):
            return "lists \"\(o.prefix(100))\", which is not an origin (http:// or https:// host[:port], no path), nor *"
        case .wildcardWithOthers: return "lists * together with origins: * alone allows every origin"
        case .wildcardWithCredentials:
            return "is * while cors_allow_credentials is on: credentials need the origins listed one by one"
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
