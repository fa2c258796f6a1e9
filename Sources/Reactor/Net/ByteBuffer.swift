import Glibc
/// A growable FIFO of bytes: append at the back, consume from the front. Used for
/// write queues and partial input. Storage is reused; the front is compacted lazily.
public struct ByteBuffer {
    public private(set) var storage: [UInt8] = []
    public private(set) var readIndex = 0

    public init(capacity: Int = 0) { storage.reserveCapacity(capacity) }

    @inline(__always) public var count: Int { storage.count - readIndex }
    @inline(__always) public var isEmpty: Bool { readIndex == storage.count }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        compactIfUseful(adding: bytes.count)
        storage.append(contentsOf: bytes.bindMemory(to: UInt8.self))
    }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        compactIfUseful(adding: bytes.count)
        storage.append(contentsOf: bytes)
    }

    public mutating func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Drops `n` bytes from the front.
    public mutating func consume(_ n: Int) {
        readIndex += n
        if readIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            readIndex = 0
        }
    }

    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
        readIndex = 0
    }

    /// Calls `body` with the readable bytes.
    @inline(__always)
    public func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[readIndex...]))
        }
    }

    private mutating func compactIfUseful(adding: Int) {
        if readIndex > 0 && (readIndex >= storage.count / 2 || storage.count + adding > storage.capacity) {
            storage.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
