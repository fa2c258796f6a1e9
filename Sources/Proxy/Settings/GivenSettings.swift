/// The settings given at start-up, read by the catalog: each one from its flag
/// (`--name value` or `--name=value`), else its environment variable (empty counts as
/// unset), each checked against its type and bounds. A live one given here is written over
/// the stored value at start (`liveSeeds`), so the order is flag > environment > stored
/// value > default.
public struct GivenSettings: Sendable {
    /// Setting key → checked text (a bool as `true`/`false`), for the settings given.
    public private(set) var values: [String: String] = [:]

    /// What the command line asked for.
    public enum Parsed: Sendable {
        case help
        case settings(GivenSettings)
    }

    /// A flag that is not in the catalog, a flag without a value, or a value that does not
    /// fit its setting. The message names the flag or variable, never a string's value.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    init() {}

    /// `arguments` without the program name.
    public static func parse(arguments: [String], environment: [String: String]) throws(Problem) -> Parsed {
        var flags: [String: String] = [:]
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            if arg == "--help" || arg == "-h" { return .help }
            guard arg.hasPrefix("--"), arg.count > 2 else {
                throw Problem("unexpected argument '\(arg)' (every setting is a --flag with a value)")
            }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let def = SettingsCatalog.every.first(where: { $0.flag == name }) else {
                throw Problem("unknown option '--\(name)'")
            }
            if value == nil {
                guard i < arguments.count else { throw Problem("missing value for '--\(name)'") }
                value = arguments[i]
                i += 1
            }
            flags[def.key] = value
        }
        var given = GivenSettings()
        for def in SettingsCatalog.every {
            if let raw = flags[def.key] {
                given.values[def.key] = try check(raw, def, source: "--\(def.flag!)", separator: " ")
            } else if let name = def.environment, let raw = environment[name], !raw.isEmpty {
                given.values[def.key] = try check(raw, def, source: name, separator: "=")
            }
        }
        return .settings(given)
    }

    /// The checked text of `raw` for `def`: a number in its bounds, a bool from `1`/`0`
    /// (any integer; `true`/`false` too), a string as it is.
    static func check(_ raw: String, _ def: SettingDefinition, source: String, separator: String) throws(Problem) -> String {
        switch def.type {
        case .string:
            return raw
        case .bool:
            if let i = Int(raw) { return i != 0 ? "true" : "false" }
            switch raw.lowercased() {
            case "true": return "true"
            case "false": return "false"
            default: throw Problem("\(source)\(separator)\(raw) is not 1 or 0")
            }
        case .int, .double:
            let number: Double?
            if def.type == .int { number = Int(raw).map(Double.init) } else { number = Double(raw).flatMap { $0.isFinite ? $0 : nil } }
            guard let v = number else { throw Problem("\(source)\(separator)\(raw) is not a valid number") }
            if let why = SettingsCatalog.rangeProblem(v, def) { throw Problem("\(source) \(why)") }
            return raw
        }
    }

    /// The given text, or nil.
    public subscript(key: String) -> String? { values[SettingsCatalog.named(key).key] }

    /// The given text, else the default ("" is none: nil).
    public func string(_ key: String) -> String? {
        let v = self[key] ?? SettingsCatalog.named(key).defaultValue
        return v.isEmpty ? nil : v
    }

    /// A number setting's value (given, else its default); nil when it has no default.
    public func int(_ key: String) -> Int? { string(key).flatMap { Int($0) } }
    public func double(_ key: String) -> Double? { string(key).flatMap { Double($0) } }
    public func bool(_ key: String) -> Bool { string(key) == "true" }

    /// The live settings given: written over the stored ones at start.
    public var liveSeeds: [String: String] {
        values.filter { SettingsCatalog.definition($0.key) != nil }
    }
}
