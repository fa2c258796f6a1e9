extension Store {
    /// A PostgreSQL connection for `role` (filled in when the libpq driver lands).
    static func connectPostgres(_ url: String, _ role: Role) throws -> any SQLConnection {
        throw StoreError(.unavailable, "PostgreSQL support is not built into this ccload")
    }
}
