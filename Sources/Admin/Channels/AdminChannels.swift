import Foundation
import Proxy
import Reactor

/// `/admin/channels`: list and read (from the live table, no disk), create, update,
/// delete, batch changes and clearing cooldowns (on a store thread: the store writes in
/// one transaction, then the control plane publishes the new table to every loop before
/// the answer goes out), plus the channel test and CSV export and import.
enum AdminChannels {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/channels", .admin, list),
        AdminRoute("POST", "/admin/channels", .admin, create),
        // Fixed names before `{id}`, which would take them otherwise.
        AdminRoute("POST", "/admin/channels/batch", .admin, batch),
        AdminRoute("GET", "/admin/channels/export", .admin, ChannelCSV.export),
        AdminRoute("POST", "/admin/channels/import", .admin, ChannelCSV.importCSV),
        AdminRoute("GET", "/admin/channels/{id}", .admin, get),
        AdminRoute("PUT", "/admin/channels/{id}", .admin, update),
        AdminRoute("DELETE", "/admin/channels/{id}", .admin, delete),
        AdminRoute("POST", "/admin/channels/{id}/clear-cooldowns", .admin, clearCooldowns),
        AdminRoute("POST", "/admin/channels/{id}/test", .admin, ChannelProbe.handle),
    ]

    // MARK: reading

    /// The channels in force now (the control plane's table: what every loop routes by).
    static func live(_ call: AdminCall) -> [Channel] { call.control.live.table?.channels ?? [] }

    static func views(_ call: AdminCall, _ channels: [Channel]) -> [ChannelView] {
        let shared = call.context.shared
        let cooling = shared.cooldowns.snapshot(now: call.loop.now)
        return channels.map { ChannelView($0, cooling: cooling, todayCostUSD: shared.spend.todayCostUSD(channelID: $0.id),
                                        probe: shared.probes.last(channelID: $0.id)) }
    }

    static func list(_ call: AdminCall) {
        let sorted = live(call).sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
        call.json(["data": views(call, sorted)])
    }

    static func get(_ call: AdminCall) {
        do {
            let id = try call.id()
            guard let c = live(call).first(where: { $0.id == id }) else { return call.fail(.notFound("channel \(id) does not exist")) }
            call.json(views(call, [c])[0])
        } catch {
            call.fail(error)
        }
    }

    // MARK: changing

    /// Runs `plan` through `Store.editChannels` on a store thread, publishes the new table,
    /// and hands the written channels to `then` on the loop. A table the change would make
    /// invalid is answered as 400 (409 for a name in use) and nothing is written.
    static func edit(_ call: AdminCall, _ plan: @escaping @Sendable ([Channel]) throws -> ChannelEdit,
                     then: @escaping ([Channel]) -> Void) {
        call.blocking({ ctx in
            let written: [Channel]
            do { written = try ctx.store.editChannels(plan) } catch let e as ChannelTableError {
                throw ChannelInput.invalid(e)
            }
            try ctx.control.reloadChannels()
            return written
        }, then: then)
    }

    static func create(_ call: AdminCall) {
        do {
            let c = try ChannelInput.channel(try ChannelInput.object(call.body), stored: nil)
            edit(call, { _ in ChannelEdit(upserts: [c]) }) { written in
                call.json(views(call, written)[0], status: 201)
            }
        } catch {
            call.fail(error)
        }
    }

    static func update(_ call: AdminCall) {
        do {
            let id = try call.id()
            let input = try ChannelInput.object(call.body)
            edit(call, { current in
                guard let stored = current.first(where: { $0.id == id }) else { throw AdminError.notFound("channel \(id) does not exist") }
                return ChannelEdit(upserts: [try ChannelInput.channel(input, stored: stored)])
            }) { written in
                call.json(views(call, written)[0])
            }
        } catch {
            call.fail(error)
        }
    }

    static func delete(_ call: AdminCall) {
        do {
            let id = try call.id()
            let book = call.context.shared.cooldowns
            edit(call, { _ in ChannelEdit(deletions: [id]) }) { _ in
                forgetCooldowns(book, of: [id], now: call.loop.now)
                call.json(["deleted": true])
            }
        } catch {
            call.fail(error)
        }
    }

    /// Forgets every cooldown (channel, keys, models) of these channels in the live book.
    static func forgetCooldowns(_ book: CooldownBook, of ids: Set<Int>, now: UInt64) {
        for e in book.snapshot(now: now) where ids.contains(e.scope.channelID) { book.clear(e.scope) }
    }

    static func clearCooldowns(_ call: AdminCall) {
        do {
            let id = try call.id()
            clear(call, ids: [id]) {
                guard let c = live(call).first(where: { $0.id == id }) else { return call.json(["cleared": true]) }
                call.json(views(call, [c])[0])
            }
        } catch {
            call.fail(error)
        }
    }

    /// Checks that every id is stored, forgets their cooldowns in memory and on disk, then `then`.
    static func clear(_ call: AdminCall, ids: [Int], then: @escaping () -> Void) {
        let book = call.context.shared.cooldowns
        call.blocking({ ctx in
            let known = Set(try ctx.store.channels().map(\.id))
            if let missing = ids.first(where: { !known.contains($0) }) {
                throw AdminError.notFound("channel \(missing) does not exist")
            }
            forgetCooldowns(book, of: Set(ids), now: monotonicNanos())
            try ctx.store.deleteStoredCooldowns(channelIDs: ids)
        }, then: then)
    }

    // MARK: batch

    struct BatchInput: Decodable {
        let ids: [Int]
        let action: String
        let priority: Int?
    }

    static func batch(_ call: AdminCall) {
        do throws(AdminError) {
            let input = try call.decode(BatchInput.self)
            guard !input.ids.isEmpty else { throw AdminError.invalid("ids", "ids must list at least one channel id") }
            guard input.ids.count <= 10_000 else { throw AdminError.invalid("ids", "ids lists more than 10000 channels") }
            if let bad = input.ids.first(where: { $0 <= 0 }) { throw AdminError.invalid("ids", "\(bad) is not a channel id") }
            var unique: [Int] = []
            for id in input.ids where !unique.contains(id) { unique.append(id) }
            let ids = unique
            let action = input.action
            let count = ids.count
            switch action {
            case "clear_cooldowns":
                return clear(call, ids: ids) { call.json(["updated": count]) }
            case "delete":
                let book = call.context.shared.cooldowns
                return edit(call, { _ in ChannelEdit(deletions: ids) }) { _ in
                    forgetCooldowns(book, of: Set(ids), now: call.loop.now)
                    call.json(["updated": count])
                }
            case "enable", "disable", "set_priority":
                var priority: Int?
                if action == "set_priority" {
                    guard let p = input.priority else { throw AdminError.invalid("priority", "set_priority needs a priority") }
                    // A range, not abs(p): abs(Int.min) traps.
                    guard (-1_000_000_000...1_000_000_000).contains(p) else { throw AdminError.invalid("priority", "priority must be between -1000000000 and 1000000000") }
                    priority = p
                }
                let fixedPriority = priority
                edit(call, { current in
                    let byID = Dictionary(uniqueKeysWithValues: current.map { ($0.id, $0) })
                    return ChannelEdit(upserts: try ids.map { id in
                        guard var c = byID[id] else { throw AdminError.notFound("channel \(id) does not exist") }
                        if let p = fixedPriority { c.priority = p } else { c.enabled = action == "enable" }
                        return c
                    })
                }) { _ in call.json(["updated": count]) }
            default:
                throw AdminError.invalid("action", "action must be enable, disable, delete, set_priority or clear_cooldowns")
            }
        } catch {
            call.fail(error)
        }
    }
}
