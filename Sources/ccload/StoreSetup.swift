import Glibc
import Proxy
import Reactor

/// Start-up and reload work against the store: the channels file and `CCLOAD_AUTH` are
/// seeds applied on top of what the database holds, which stays the source of truth.
/// Runs on the main thread, never on a reactor thread.
enum StoreSetup {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Applies the channels file: a channel whose name the store knows is updated, a new
    /// one is added. A bad file changes nothing.
    static func seedChannels(from path: String, into store: Store) throws(Failure) {
        let fromFile: [Channel]
        do { fromFile = try ChannelFile.load(path: path) } catch {
            throw Failure(description: "channels file \(path) rejected: \(error)")
        }
        do {
            // One transaction: the file's channels over the stored ones, checked as a whole
            // table first, so a bad file (or a file that clashes with the stored channels)
            // changes nothing.
            _ = try ChannelTable(fromFile, state: RoutingState())
            // Instances starting together on one PostgreSQL database may add the same
            // channel at once: the loser's transaction fails on the name or the id, and a
            // second try finds the channel there and updates it instead.
            try retryingConflicts {
                try store.editChannels { current in
                    let known = Dictionary(current.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
                    return ChannelEdit(upserts: fromFile.map { c in
                        var c = c
                        c.id = known[c.name] ?? 0
                        return c
                    })
                }
            }
        } catch {
            throw Failure(description: "channels file \(path) rejected: \(error)")
        }
    }

    /// Runs `body`, once more (up to three tries) when it fails on a uniqueness conflict: a
    /// peer wrote the same row between this instance's read and its write.
    static func retryingConflicts(_ body: () throws -> Void) throws {
        for attempt in 1...3 {
            do { return try body() } catch let e as StoreError where e.kind == .constraint && attempt < 3 {
                usleep(UInt32.random(in: 5_000...50_000))
            }
        }
    }

    /// Adds each `CCLOAD_AUTH` secret the store does not know yet (only its hash is kept).
    static func seedTokens(_ secrets: [String], into store: Store) throws(Failure) {
        do {
            for (i, secret) in secrets.enumerated() {
                // (Another instance starting at the same moment may add it first.)
                try retryingConflicts {
                    if try store.token(secret: secret) == nil {
                        _ = try store.createToken(AuthToken(name: "CCLOAD_AUTH #\(i + 1)"), secret: secret)
                    }
                }
            }
        } catch {
            throw Failure(description: "cannot store the CCLOAD_AUTH tokens: \(error)")
        }
    }

    /// Writes the live settings given by flag or environment over the stored ones, once the
    /// result is known to hold together (say, the shortest cooldown is not longer than the
    /// longest); when it does not, nothing is written.
    static func seedSettings(_ seeds: [String: String], into store: Store) throws(Failure) {
        if seeds.isEmpty { return }
        do {
            _ = try RuntimeSettings(values: try store.settings().merging(seeds) { _, given in given })
            try store.setSettings(seeds)
        } catch {
            throw Failure(description: "\(error)")
        }
    }

    /// Today's, this week's, this month's and all-time spend per token, so caps hold across restarts.
    static func seedMeters(_ meters: TokenMeters, from store: Store, nowMillis: UInt64) {
        let p = SpendPeriods(day: meters.calendar.day(nowMillis))
        let today = (try? store.tokenCostsSince(meters.calendar.startOfDay(nowMillis))) ?? [:]
        let week = (try? store.tokenCostsSince(meters.calendar.start(ofDay: p.weekStartDay))) ?? [:]
        let month = (try? store.tokenCostsSince(meters.calendar.start(ofDay: p.monthStartDay))) ?? [:]
        let totals = ((try? store.tokens()) ?? []).reduce(into: [Int: Int64]()) { $0[$1.id] = $1.totalCostMicroUSD }
        meters.seed(today: today, week: week, month: month, total: totals, nowMillis: nowMillis)
    }
}
