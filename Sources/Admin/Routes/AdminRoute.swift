/// One admin endpoint: a method, a path pattern (`{name}` matches one segment, a final
/// `*` the rest), who may call it, and its handler (run on the loop that read the
/// request).
public struct AdminRoute: Sendable {
    public enum Access: Sendable {
        /// Anyone (health, the web assets, login, the public summary).
        case open
        /// An admin session (cookie, or `Authorization: Bearer` with the session secret).
        case session
    }

    public let method: String
    let segments: [Substring]
    public let access: Access
    public let handler: @Sendable (AdminCall) -> Void

    public init(_ method: String, _ pattern: String, _ access: Access = .session,
                _ handler: @escaping @Sendable (AdminCall) -> Void) {
        self.method = method
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
    static let all: [AdminRoute] = AdminAuthRoutes.routes + AdminRecentRoutes.routes
        + AdminChannels.routes
        + AdminGroups.routes
        + AdminTokens.routes
        + AdminQueries.routes
        + AdminLive.routes
        + AdminSettings.routes
        + AdminMetrics.routes
        + PublicRoutes.routes
        + WebRoutes.routes
}

