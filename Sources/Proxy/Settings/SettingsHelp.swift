/// `ccload --help`: every catalog setting with its flag, variable, default, bounds and
/// unit, start-up ones first.
public enum SettingsHelp {
    public static func text(command: String, abstract: String) -> String {
        var out = """
        OVERVIEW: \(abstract)

        USAGE: \(command) [--<flag> <value>] ...

        Every setting is a flag or an environment variable; a flag wins over its variable.
        Durations are in seconds, and fractions are allowed. Live settings are also kept in
        the database, editable in the web UI or with PUT /admin/settings and applied at once;
        one given as a flag or variable is written over the stored value at start.

        START-UP SETTINGS

        """
        for def in SettingsCatalog.startUp { out += entry(def) }
        out += "\nLIVE SETTINGS\n"
        for def in SettingsCatalog.all { out += entry(def) }
        out += "\n  -h, --help   Show this help.\n"
        return out
    }

    /// One setting: a line of names and facts, then its help text, indented.
    static func entry(_ def: SettingDefinition) -> String {
        var names: [String] = []
        if let flag = def.flag { names.append("--\(flag) <\(valueName(def))>") }
        if let env = def.environment { names.append("env \(env)") }
        if def.live { names.append("setting \(def.key)") }
        var facts = ["default \(def.defaultText)\(def.defaultNote == nil ? unitSuffix(def) : "")"]
        let bounds = def.boundsText
        if !bounds.isEmpty { facts.append(bounds + (def.type == .bool ? "" : unitSuffix(def))) }
        return "  \(names.joined(separator: ", "))\n      \(facts.joined(separator: "; ")). \(def.plainSummary).\n"
    }

    static func valueName(_ def: SettingDefinition) -> String {
        switch def.type {
        case .bool: return "1|0"
        case .int, .double: return def.unit == .none ? def.type.rawValue : def.unit.rawValue
        case .string: return "text"
        }
    }

    static func unitSuffix(_ def: SettingDefinition) -> String {
        def.unit == .none ? "" : " \(def.unit.rawValue)"
    }
}
