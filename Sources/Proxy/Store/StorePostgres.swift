extension Store {
    /// A PostgreSQL connection for `role`, named `ccload-<role>` in `pg_stat_activity`.
    static func connectPostgres(_ url: String, _ role: Role) throws -> any SQLConnection {
        try PGConnection.connect(url: url, applicationName: "ccload-\(role.rawValue)")
    }

    /// A connection of its own for the cluster bus (`PGClusterTransport`): `LISTEN` holds a
    /// connection, so the store's connections stay free for queries. Nil for SQLite, which
    /// has no peers.
    public func clusterTransport() throws -> (any ClusterTransport)? {
        guard case .postgres(let url) = location else { return nil }
        return try PGClusterTransport(connection: PGConnection.connect(url: url, applicationName: "ccload-bus"))
    }
}

/// The cluster bus over PostgreSQL's `LISTEN`/`NOTIFY` on one channel (`ccload_cluster`),
/// on a connection of its own. A notification reaches every listening connection of the
/// database, this one included (the bus skips its own lines); one sent while a peer's
/// connection is down never reaches that peer, which is why the bus resyncs after an outage.
final class PGClusterTransport: ClusterTransport, @unchecked Sendable {
    static let channel = "ccload_cluster"
    /// PostgreSQL's payload limit is 8,000 bytes.
    var maxPayloadBytes: Int { 7_900 }
    // The bus's thread only.
    private let connection: PGConnection
    private var listening = false

    init(connection: PGConnection) throws {
        self.connection = connection
        try connection.listen(Self.channel)
        listening = true
    }

    deinit { connection.close() }

    func send(_ payload: String) throws {
        try connection.notify(Self.channel, payload)
    }

    func receive(timeoutMillis: Int32) throws -> [String] {
        try connection.waitForNotifications(timeoutMillis: Int(timeoutMillis))
            .filter { $0.channel == Self.channel }
            .map(\.payload)
    }
}
