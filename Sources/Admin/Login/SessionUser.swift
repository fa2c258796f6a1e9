import Proxy

/// Who a session is: a user (their id and role) or the `CCLOAD_PASS` admin (no id).
public struct SessionUser: Sendable, Equatable {
    public var userID: Int?
    public var role: User.Role

    public init(userID: Int?, role: User.Role) {
        self.userID = userID
        self.role = userID == nil ? .admin : role
    }

    /// The `CCLOAD_PASS` admin.
    public static let passwordAdmin = SessionUser(userID: nil, role: .admin)

    /// No one: a user who owns nothing (ids start at 1) and is no admin. What a handler
    /// sees without a session, so a route declared `open` by mistake grants nothing.
    public static let nobody = SessionUser(userID: 0, role: .user)

    public var isAdmin: Bool { role == .admin }

    /// Whether the caller may see and change what `ownerUserID` owns (nil: the admin's):
    /// an admin everything, a user only their own.
    public func owns(_ ownerUserID: Int?) -> Bool {
        if isAdmin { return true }
        guard let id = userID, id > 0 else { return false }
        return ownerUserID == id
    }
}

extension AdminCall {
    /// Whose session the call is (`SessionUser.nobody` without one).
    public var caller: SessionUser { user ?? .nobody }
}
