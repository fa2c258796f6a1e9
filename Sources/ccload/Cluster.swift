import Proxy
import Reactor

/// Several instances on one PostgreSQL database: the cluster bus (LISTEN/NOTIFY on a
/// connection of its own) and what rides on it — configuration, cooldowns, session
/// affinity. Nothing runs for an SQLite store, which has no peers.
struct Cluster {
    let bus: ClusterBus
    let config: ConfigSync
    let cooldowns: CooldownSync
    let affinity: AffinitySync?

    /// Starts the cluster's parts for a PostgreSQL store; nil for SQLite. Throws when the
    /// bus's own connection cannot be made (start-up then stops, as for the store).
    static func start(store: Store, control: ControlPlane, shared: ProxyShared, cooldownBook: CooldownBook,
                      instance: String) throws -> Cluster? {
        guard let transport = try store.clusterTransport() else { return nil }
        let bus = ClusterBus(instance: instance, transport: transport)
        let c = Cluster(bus: bus,
                        config: ConfigSync(control: control, bus: bus),
                        cooldowns: CooldownSync(book: cooldownBook, bus: bus, store: store),
                        affinity: shared.selector.affinity.map { AffinitySync(affinity: $0, bus: bus) })
        c.config.start()
        c.cooldowns.start()
        bus.start()
        return c
    }

    /// Stops the bus (after one last send of what is queued) and the parts riding on it;
    /// before the store closes.
    func stop() {
        bus.stop()
        config.stop()
        cooldowns.stop()
        affinity?.stop()
    }
}
