/// What a new password of a user must be: at least `minimumLength` characters, at most
/// `maximumBytes` bytes (what `/login` takes), and not the username. Checked before any
/// hashing, so a weak password costs nothing.
enum PasswordRule {
    static let minimumLength = 8
    static let maximumBytes = 1024

    /// Why `password` is refused, in words for the error, or nil when it will do.
    static func weakness(_ password: String, username: String?) -> String? {
        if password.count < minimumLength { return "must be at least \(minimumLength) characters" }
        if password.utf8.count > maximumBytes { return "must be at most \(maximumBytes) bytes" }
        if let username, password.lowercased() == username.lowercased() { return "must not be the username" }
        if Set(password).count == 1 { return "must not repeat one character" }
        return nil
    }

    /// `weakness` as a 400 naming `field`.
    static func check(_ password: String, username: String?, field: String = "password") throws(AdminError) {
        if let why = weakness(password, username: username) { throw AdminError.invalid(field, "\(field) \(why)") }
    }
}
