/// One loop's last model priced and its price. A loop's requests name few models, and
/// `Pricing.price(for:)` scans the whole table for the longest prefix (~900 instructions);
/// the comparison of a model name the channel table interned (`ModelNames`) with the last
/// one is a compare of two words. Owner: one loop (`ProxyHandler`); `pricing` never changes
/// for a handler (it is `ProxyShared`'s constant).
struct PriceMemo {
    private var last: (model: String, price: ModelPrice?)?

    mutating func price(of model: String, in pricing: Pricing) -> ModelPrice? {
        if let last, last.model == model { return last.price }
        let p = pricing.price(for: model)
        last = (model, p)
        return p
    }
}
