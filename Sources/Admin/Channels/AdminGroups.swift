import Foundation
import Proxy
import Reactor

/// `/admin/groups`: channel groups. A client token in a group is routed only to the
/// group's channels. A change is written to the store, then the control plane rebuilds the
/// channel table (which carries each group's routes) and publishes it to every loop before
/// the answer goes out.
enum AdminGroups {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/groups", .session, list),
        AdminRoute("POST", "/admin/groups", .session, create),
        AdminRoute("GET", "/admin/groups/{id}", .session, get),
        AdminRoute("PUT", "/admin/groups/{id}", .session, update),
        AdminRoute("DELETE", "/admin/groups/{id}", .session, delete),
    ]

    /// Most member channels one group may name.
    static let maxChannels = 10_000
    static let maxRemarkLength = 1000

    struct GroupView: Encodable, Sendable {
        let id: Int
        let name: String
        let channelIds: [Int]
        let remark: OrNull<String>
        let tokenCount: Int
        let createdMs: UInt64
        let updatedMs: UInt64

        init(_ g: ChannelGroup, tokens: Int) {
            id = g.id
            name = g.name
            channelIds = g.channelIDs
            remark = OrNull(g.remark)
            tokenCount = tokens
            createdMs = g.createdMillis
            updatedMs = g.updatedMillis
        }
    }

    /// A group as sent: `name` and `channel_ids` are required on create; on update a field
    /// left out keeps its value and `remark: null` clears the remark.
    struct GroupInput: Decodable, Sendable {
        var name: Patch<String>
        var channelIds: Patch<[Int]>
        var remark: Patch<String>

        enum CodingKeys: String, CodingKey, CaseIterable { case name, channelIds, remark }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
            name = try c.patch(String.self, .name)
            channelIds = try c.patch([Int].self, .channelIds)
            remark = try c.patch(String.self, .remark)
        }

        /// Applies the fields to `g`, checking each; a bad one throws a 400 naming it.
        func apply(to g: inout ChannelGroup) throws(AdminError) {
            switch name {
            case .absent: break
            case .null: throw AdminError.invalid("name", "name must be a string, not null")
            case .value(let n): g.name = try AdminName.checked(n)
            }
            switch channelIds {
            case .absent: break
            case .null: throw AdminError.invalid("channel_ids", "channel_ids must be an array of channel ids, not null")
            case .value(let ids):
                if ids.count > AdminGroups.maxChannels {
                    throw AdminError.invalid("channel_ids", "channel_ids may name at most \(AdminGroups.maxChannels) channels")
                }
                if let bad = ids.first(where: { $0 <= 0 }) {
                    throw AdminError.invalid("channel_ids", "channel_ids: \(bad) is not a channel id")
                }
                g.channelIDs = Array(Set(ids)).sorted()
            }
            switch remark {
            case .absent: break
            case .null: g.remark = nil
            case .value(let r):
                if r.count > AdminGroups.maxRemarkLength {
                    throw AdminError.invalid("remark", "remark must be at most \(AdminGroups.maxRemarkLength) characters")
                }
                g.remark = r.isEmpty ? nil : r
            }
        }
    }

    static func list(_ call: AdminCall) {
        call.blockingJSON { ctx in
            let counts = try tokenCounts(ctx.store)
            return ["data": try ctx.store.groups().map { GroupView($0, tokens: counts[$0.id] ?? 0) }]
        }
    }

    static func get(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        call.blockingJSON { ctx in
            guard let g = try ctx.store.group(id: id) else { throw AdminError.notFound("group \(id) does not exist") }
            return GroupView(g, tokens: try tokenCounts(ctx.store)[id] ?? 0)
        }
    }

    static func create(_ call: AdminCall) {
        var group = ChannelGroup(name: "")
        do throws(AdminError) {
            let input = try call.decode(GroupInput.self)
            guard case .value = input.name else { throw AdminError.invalid("name", "name is required") }
            guard case .value = input.channelIds else { throw AdminError.invalid("channel_ids", "channel_ids is required") }
            try input.apply(to: &group)
        } catch {
            return call.fail(error)
        }
        let fresh = group
        call.blockingJSON(status: 201) { ctx in
            let g = try write { try ctx.store.createGroup(fresh) }
            try ctx.control.reloadChannels()
            return GroupView(g, tokens: 0)
        }
    }

    static func update(_ call: AdminCall) {
        let id: Int
        let input: GroupInput
        do {
            id = try call.id()
            input = try call.decode(GroupInput.self)
        } catch {
            return call.fail(error)
        }
        call.blockingJSON { ctx in
            guard var g = try ctx.store.group(id: id) else { throw AdminError.notFound("group \(id) does not exist") }
            try input.apply(to: &g)
            let edited = g
            let written = try write { try ctx.store.updateGroup(edited) }
            try ctx.control.reloadChannels()
            return GroupView(written, tokens: try tokenCounts(ctx.store)[id] ?? 0)
        }
    }

    /// `?detach=1` (or `true`) clears the group of the tokens in it first; without it a group
    /// tokens are in is answered 409 naming them.
    static func delete(_ call: AdminCall) {
        let id: Int
        let detach: Bool
        do throws(AdminError) {
            id = try call.id()
            switch call.query["detach"] {
            case nil, "0", "false": detach = false
            case "1", "true", "": detach = true
            case let v?: throw AdminError.invalid("detach", "detach must be 1 or 0 (true or false), not \(v)")
            }
        } catch {
            return call.fail(error)
        }
        call.blockingJSON { ctx -> Deleted in
            switch try ctx.store.deleteGroup(id: id, detach: detach) {
            case .notFound:
                throw AdminError.notFound("group \(id) does not exist")
            case .inUse(let tokens):
                let shown = tokens.prefix(20).map(String.init).joined(separator: ", ")
                throw AdminError(409, "group \(id) is used by \(tokens.count) token(s) (\(shown)\(tokens.count > 20 ? ", …" : "")); "
                                 + "move them to another group or delete with ?detach=1 to clear their group")
            case .deleted(let detached):
                if detached > 0 { try ctx.control.reloadTokens() }
                try ctx.control.reloadChannels()
                return Deleted(deleted: true, detachedTokens: detached)
            }
        }
    }

    struct Deleted: Encodable, Sendable {
        let deleted: Bool
        let detachedTokens: Int
    }

    /// A store refusal in this API's terms: an unknown member is a 400 on `channel_ids`.
    static func write(_ body: () throws -> ChannelGroup) throws -> ChannelGroup {
        do { return try body() } catch let e as StoreError where e.kind == .invalid {
            throw AdminError.invalid("channel_ids", "channel_ids: \(e.message)")
        }
    }

    /// Tokens per group id.
    static func tokenCounts(_ store: Store) throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for t in try store.tokens() { if let g = t.groupID { out[g, default: 0] += 1 } }
        return out
    }
}
