import Foundation
import Proxy

/// The rule for a name the admin API stores (a token's, a group's): trimmed, not empty,
/// at most `maxLength` characters, and no character a channel name may not hold.
enum AdminName {
    static let maxLength = 100

    /// `raw` trimmed, or a 400 on `field` saying what is wrong.
    static func checked(_ raw: String, field: String = "name") throws(AdminError) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw AdminError.invalid(field, "\(field) must not be empty") }
        if trimmed.count > maxLength { throw AdminError.invalid(field, "\(field) must be at most \(maxLength) characters") }
        if let why = ChannelFieldRules.name(trimmed) { throw AdminError.invalid(field, "\(field) \(why)") }
        return trimmed
    }
}
