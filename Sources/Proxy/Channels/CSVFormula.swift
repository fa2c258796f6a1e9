/// Formula injection in CSV (OWASP "CSV Injection"): a spreadsheet runs a cell that starts
/// with `=`, `+`, `-`, `@`, a tab or a CR as a formula. The export prefixes such a cell
/// with `'` (a plain number such as `-5` is left alone: it is no formula), and the import
/// takes one `'` back off, so an export imports as the same channels. A cell that already
/// starts with `'`s before such a character gets one more, so it survives the round trip too.
public enum CSVFormula {
    static let triggers: Set<Character> = ["=", "+", "-", "@", "\t", "\r"]

    /// The cell as the export writes it.
    public static func neutralised(_ cell: String) -> String {
        guard let first = cell.drop(while: { $0 == "'" }).first, triggers.contains(first), !isPlainNumber(cell) else {
            return cell
        }
        return "'" + cell
    }

    /// The cell as the import reads it (the inverse of `neutralised`).
    public static func restored(_ cell: String) -> String {
        guard cell.first == "'", let first = cell.drop(while: { $0 == "'" }).first, triggers.contains(first) else {
            return cell
        }
        return String(cell.dropFirst())
    }

    /// `-5`, `+2.5`, `-0.125`: digits with an optional sign and one decimal point.
    static func isPlainNumber(_ s: String) -> Bool {
        var body = Substring(s)
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        return !body.isEmpty && parts.count <= 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
