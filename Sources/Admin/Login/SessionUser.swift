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

    public var isAdmin: Bool { role == .admin }

    /// Whether the caller may see and change what `ownerUserID` owns (nil: the admin's):
    /// an admin everything, a user only their own.
    public func owns(_ ownerUserID: Int?) -> Bool { isAdmin || (userID != nil && ownerUserID == userID) }
}
