/// A named set of channels that client tokens can be bound to: a token in a group is
/// routed only to the group's channels. A channel may be in several groups.
public struct ChannelGroup: Sendable, Equatable {
    public var id: Int
    public var name: String
    /// Member channel ids, ascending, without repeats.
    public var channelIDs: [Int]
    public var remark: String?
    public var createdMillis: UInt64
    public var updatedMillis: UInt64

    public init(id: Int = 0, name: String, channelIDs: [Int] = [], remark: String? = nil, createdMillis: UInt64 = 0,
                updatedMillis: UInt64 = 0) {
        self.id = id
        self.name = name
        self.channelIDs = channelIDs
        self.remark = remark
        self.createdMillis = createdMillis
        self.updatedMillis = updatedMillis
    }
}
