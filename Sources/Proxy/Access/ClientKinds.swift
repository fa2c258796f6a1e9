import Reactor

/// The client programs a token may be restricted to, told apart by the start of the
/// request's `User-Agent`: Claude Code sends `claude-cli/…`, Codex CLI `codex_cli_rs/…` or
/// `codex_exec/…`. A set of bits (stored as an integer); the empty set is not a
/// restriction anyone can make (a token without one is `nil`).
public struct ClientKinds: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let claudeCode = ClientKinds(rawValue: 1)
    public static let codexCLI = ClientKinds(rawValue: 2)
    public static let all: ClientKinds = [.claudeCode, .codexCLI]

    /// Each kind's name in the admin API, in order.
    public static let names: [(ClientKinds, String)] = [(.claudeCode, "claude_code"), (.codexCLI, "codex_cli")]

    /// The kinds as their API names, in order.
    public var apiNames: [String] { Self.names.filter { contains($0.0) }.map(\.1) }

    /// The kinds named (nil when a name is unknown).
    public init?(apiNames: [String]) {
        var k: ClientKinds = []
        for n in apiNames {
            guard let kind = Self.names.first(where: { $0.1 == n })?.0 else { return nil }
            k.insert(kind)
        }
        self = k
    }

    /// Whether `userAgent` (the header's raw value, or nil without one) is one of these
    /// clients: byte compares of a prefix, no copy.
    public func admits(userAgent: ArraySlice<UInt8>?) -> Bool {
        guard let ua = userAgent else { return false }
        if contains(.claudeCode), ASCII.hasPrefix(ua, "claude-cli/") { return true }
        if contains(.codexCLI), ASCII.hasPrefix(ua, "codex_cli_rs/") || ASCII.hasPrefix(ua, "codex_exec/") { return true }
        return false
    }

    /// The rule in words, for the refusal (made once per token snapshot).
    public var rule: String {
        var parts: [String] = []
        if contains(.claudeCode) { parts.append("Claude Code (User-Agent claude-cli/…)") }
        if contains(.codexCLI) { parts.append("Codex CLI (User-Agent codex_cli_rs/… or codex_exec/…)") }
        return parts.joined(separator: " or ")
    }
}
