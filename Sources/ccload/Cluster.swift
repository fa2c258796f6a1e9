import Proxy
import Reactor

/// Several instances on one PostgreSQL database: the cluster bus (LISTEN/NOTIFY on a
/// connection of its own) and what rides on it — configuration, cooldowns, session
/// affinity, token limits and the fleet view. Nothing runs for an SQLite store, which has
/// no peers.
struct Cluster {
    let bus: ClusterBus
    let config: ConfigSync
    let cooldowns: CooldownSync
    let affinity: AffinitySync?
    let limits: LimitSync
    let fleet: FleetView

    /// Starts the cluster's parts for a PostgreSQL store; nil for SQLite. Throws when the
    /// bus's own connection cannot be made (start-up then stops, as for the store).
    /// `loop`: where the fleet view gathers this instance's requests in flight (from every
    /// loop, through the control plane).
    static func start(store: Store, control: ControlPlane, shared: ProxyShared, cooldownBook: CooldownBook,
                      instance: String, loop: Loop) throws -> Cluster? {
        guard let transport = try store.clusterTransport() else { return nil }
        let bus = ClusterBus(instance: instance, transport: transport)
        // The meters are re-seeded from the store at each resync (LimitSync's thread).
        let limits = LimitSync(meters: shared.meters, bus: bus) {
            StoreSetup.seedMeters(shared.meters, from: store, nowMillis: wallClockMillis())
        }
        shared.fleet.attach(to: bus) { done in
            control.gather({ ($0.active.count, $0.active.streamCount, $0.active.snapshot()) }, on: loop) { perLoop in
                done(FleetView.Activity(activeRequests: perLoop.reduce(0) { $0 + $1.0 },
                                        streams: perLoop.reduce(0) { $0 + $1.1 }, requests: perLoop.flatMap { $0.2 }))
            }
        }
        let c = Cluster(bus: bus,
                        config: ConfigSync(control: control, bus: bus),
                        cooldowns: CooldownSync(book: cooldownBook, bus: bus, store: store),
                        affinity: shared.selector.affinity.map { AffinitySync(affinity: $0, bus: bus) },
                        limits: limits, fleet: shared.fleet)
        c.config.start()
        c.cooldowns.start()
        bus.start()
        limits.start()
        shared.fleet.start()
        return c
    }

    /// Stops the bus (after one last send of what is queued) and the parts riding on it;
    /// before the store closes.
    func stop() {
        fleet.stop()
        limits.stop()
        bus.stop()
        config.stop()
        cooldowns.stop()
        affinity?.stop()
    }
}
