/// An input field of a partial update: left out (keep the value), `null` (clear it), or a
/// value.
enum Patch<T: Sendable>: Sendable {
    case absent
    case null
    case value(T)

    /// The new value given the old one.
    func applied(to old: T?) -> T? {
        switch self {
        case .absent: return old
        case .null: return nil
        case .value(let v): return v
        }
    }
}

extension KeyedDecodingContainer {
    func patch<T: Decodable & Sendable>(_ type: T.Type, _ key: Key) throws -> Patch<T> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        return .value(try decode(T.self, forKey: key))
    }

    /// Throws a 400 naming the first key of the object that `Known` does not list.
    func rejectUnknown<Known: CodingKey & CaseIterable>(_ known: Known.Type) throws {
        let names = Set(Known.allCases.map(\.stringValue))
        for key in allKeys where !names.contains(key.stringValue) {
            let field = AdminJSON.snake(key.stringValue)
            throw AdminError.invalid(field, "unknown field \(field)")
        }
    }
}

/// An output value that is written as `null` when absent (synthesized `Encodable` leaves
/// an `Optional` out), so every answer has the same keys.
struct OrNull<T: Encodable & Sendable>: Encodable, Sendable {
    let value: T?

    init(_ value: T?) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}

/// Any key of a JSON object (to find the ones a type does not know).
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
