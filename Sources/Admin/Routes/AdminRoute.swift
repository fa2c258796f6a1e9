/// One admin endpoint: a method, a path pattern (`{name}` matches one segment, a final
/// `*` the rest), who may call it, and its handler (run on the loop that read the
/// request).
public struct AdminRoute: Sendable {
    /// Who may call it, checked in one place (`AdminRouter`) before the handler runs: no
    /// session → 401, a user's session on an admin route → 403.
    public enum Access: String, Sendable, CaseIterable {
        /// Anyone (health, the web assets, login, the public summary).
        case open
        /// Any session, a user's or an admin's (cookie, or `Authorization: Bearer` with the
        /// session secret); a handler that lists or changes things a user owns shows such a
        /// caller only their own.
        case user
        /// An admin's session only (the `CCLOAD_PASS` admin, or a user with the admin role).
        case admin

        /// The old name of `.admin` (before users, every session was the admin's).
        public static var session: Access { .admin }
    }

    public let method: String
    /// As written in the table (`/admin/tokens/{id}`).
    public let pattern: String
    let segments: [Substring]
    public let access: Access
    public let handler: @Sendable (AdminCall) -> Void

    public init(_ method: String, _ pattern: String, _ access: Access,
                _ handler: @escaping @Sendable (AdminCall) -> Void) {
        self.method = method
        self.pattern = pattern
        segments = pattern.split(separator: "/")
        self.access = access
        self.handler = handler
    }

    /// The path parameters when `path` matches, else nil.
    func match(_ path: [Substring]) -> [String: String]? {
        var params: [String: String] = [:]
        for (i, s) in segments.enumerated() {
            if s == "*" {
                params["*"] = path[i...].joined(separator: "/")
                return params
            }
            guard i < path.count else { return nil }
            if s.first == "{" && s.last == "}" {
                params[String(s.dropFirst().dropLast())] = String(path[i]).removingPercentEncoding ?? String(path[i])
            } else if s != path[i] {
                return nil
            }
        }
        return segments.count == path.count ? params : nil
    }
}

/// Every admin endpoint. Each concern lists its own routes.
enum AdminRoutes {
    static let all: [AdminRoute] = AdminAuthRoutes.routes + AdminUsers.routes + AdminRoutes.routes + AdminRecentRoutes.routes
        + AdminChannels.routes
        + AdminAccounts.routes
        + AdminGroups.routes
        + AdminTokens.routes
        + AdminQueries.routes
        + AdminUsage.routes
        + LogExport.routes
        + AdminLive.routes
        + AdminSettings.routes
        + AdminWebhooks.routes
        + AdminMetrics.routes
        + PublicRoutes.routes
        + WebRoutes.routes
}


extension AdminRoutes {
    /// `GET /admin/routes`: the route table, each route with the role it needs, so that
    /// what is enforced can be checked from outside (and a client can tell what it may call).
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/routes", .admin, list),
    ]

    struct RouteView: Encodable, Sendable {
        let method: String
        let path: String
        let access: String
    }

    static func list(_ call: AdminCall) {
        call.json(["data": all.map { RouteView(method: $0.method, path: $0.pattern, access: $0.access.rawValue) }])
    }
}
