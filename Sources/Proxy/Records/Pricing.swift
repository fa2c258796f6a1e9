import Glibc

/// A model's list prices, per million tokens, held as integer micro-USD per million tokens
/// ($3.00/MTok → 3_000_000) so that costs are exact integers.
public struct ModelPrice: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var cacheRead: Int
    public var cacheWrite5m: Int
    public var cacheWrite1h: Int

    /// Prices in USD per million tokens.
    public init(input: Double, output: Double, cacheRead: Double, cacheWrite5m: Double, cacheWrite1h: Double) {
        self.input = Self.micro(input)
        self.output = Self.micro(output)
        self.cacheRead = Self.micro(cacheRead)
        self.cacheWrite5m = Self.micro(cacheWrite5m)
        self.cacheWrite1h = Self.micro(cacheWrite1h)
    }

    /// A price without cache writes (OpenAI, Gemini: writes are not reported, so they are
    /// priced as plain input).
    public init(input: Double, output: Double, cacheRead: Double) {
        self.init(input: input, output: output, cacheRead: cacheRead, cacheWrite5m: input, cacheWrite1h: input)
    }

    /// Clamped: a price of 1e300 (a prices file may say so) is `Int.max`, NaN or negative 0.
    static func micro(_ usdPerMillion: Double) -> Int {
        Saturating.integer(usdPerMillion.isNaN ? 0 : (max(0, usdPerMillion) * 1_000_000).rounded())
    }
}

/// The cost of one request.
public struct Cost: Sendable, Equatable {
    /// Integer micro-USD (1 USD = 1,000,000), multiplier applied, rounded to nearest.
    public var microUSD: Int
    /// False when no price matched the model: tokens are still recorded, cost is 0, flagged.
    public var priced: Bool

    public init(microUSD: Int, priced: Bool) {
        self.microUSD = microUSD
        self.priced = priced
    }
}

public enum PricingError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "prices file \(p): \(r)"
        case .invalid(let p, let r): return "prices file \(p): \(r)"
        }
    }
}

/// Prices by model-name prefix; the longest matching prefix wins. Matching is ASCII
/// case-insensitive, ignores a leading `…/` (`models/gemini-2.5-pro`, `anthropic/claude-…`),
/// and a prefix only matches at a name boundary: the next character must not be a letter,
/// digit or `.` (so `claude-sonnet-4` prices `claude-sonnet-4-5-20250929`, but `gpt-5` does
/// not price `gpt-5.2`, which has its own entry, nor an unknown `gpt-5.9`).
public struct Pricing: Sendable {
    /// Prefix bytes (lowercased) and price, longest prefix first.
    private let entries: [(prefix: [UInt8], price: ModelPrice)]

    public init(_ table: [String: ModelPrice]) {
        entries = table.map { (Array($0.key.lowercased().utf8), $0.value) }
            .sorted { $0.prefix.count != $1.prefix.count ? $0.prefix.count > $1.prefix.count : $0.prefix.lexicographicallyPrecedes($1.prefix) }
    }

    /// The table with `overrides` added or replacing entries of the same prefix.
    public func merging(_ overrides: [String: ModelPrice]) -> Pricing {
        var table: [String: ModelPrice] = [:]
        for e in entries { table[String(decoding: e.prefix, as: UTF8.self)] = e.price }
        for (k, v) in overrides { table[k.lowercased()] = v }
        return Pricing(table)
    }

    public var count: Int { entries.count }

    /// The price of the longest matching prefix, or nil. The lowercased name is made in a
    /// stack buffer (an array of it was an allocation per lookup, two lookups per request).
    public func price(for model: String) -> ModelPrice? {
        var model = model
        return model.withUTF8 { raw in
            var start = 0
            if let slash = raw.lastIndex(of: UInt8(ascii: "/")) { start = slash + 1 }
            let n = raw.count - start
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(n, 1)) { name in
                for i in 0..<n {
                    let c = raw[start + i]
                    name[i] = c >= 0x41 && c <= 0x5A ? c | 0x20 : c
                }
                for e in entries where e.prefix.count <= n {
                    let same = e.prefix.withUnsafeBufferPointer { p in p.isEmpty || memcmp(p.baseAddress!, name.baseAddress!, p.count) == 0 }
                    guard same else { continue }
                    if n == e.prefix.count { return e.price }
                    let next = name[e.prefix.count]
                    let continues = (next >= 0x30 && next <= 0x39) || (next >= 0x61 && next <= 0x7A) || next == UInt8(ascii: ".")
                    if !continues { return e.price }
                }
                return nil
            }
        }
    }

    /// tokens × price per token, summed, × `multiplier` (the channel's), in micro-USD.
    /// Unknown model → 0, `priced: false`. Saturates at `Int.max` (a NaN or negative
    /// multiplier counts as 0, an infinite one as `Int.max`).
    public func cost(model: String, usage: Usage, multiplier: Double = 1) -> Cost {
        cost(price(for: model), usage: usage, multiplier: multiplier)
    }

    /// `cost(model:…)` at a price already looked up (`PriceMemo`); nil: unknown model.
    public func cost(_ price: ModelPrice?, usage: Usage, multiplier: Double = 1) -> Cost {
        guard let p = price else { return Cost(microUSD: 0, priced: false) }
        return Cost(microUSD: Self.microUSD(usage, p, multiplier: multiplier), priced: true)
    }

    /// `usage` at `p` × `multiplier`, in micro-USD, saturating at `Int.max`.
    static func microUSD(_ usage: Usage, _ p: ModelPrice, multiplier: Double) -> Int {
        // Σ tokens × (micro-USD per million tokens), then ÷ 1e6 once.
        var sum = 0
        var overflow = false
        for (tokens, price) in [(usage.input, p.input), (usage.output, p.output), (usage.cacheRead, p.cacheRead),
                                (usage.cacheWrite5m, p.cacheWrite5m), (usage.cacheWrite1h, p.cacheWrite1h)] {
            let (m, o1) = max(0, tokens).multipliedReportingOverflow(by: price)
            let (a, o2) = sum.addingReportingOverflow(m)
            if o1 || o2 { overflow = true; break }
            sum = a
        }
        if overflow { return Int.max }
        let k = multiplier.isNaN ? 0 : max(0, multiplier)
        if k == 1 { return Saturating.add(sum, 500_000) / 1_000_000 }
        if sum == 0 || k == 0 { return 0 }
        return Saturating.integer((Double(sum) * k / 1_000_000).rounded())
    }

    /// Output tokens assumed for a cost estimate when the request sets no limit.
    public static let defaultEstimatedOutputTokens = 4096
    /// Output limits above this are estimated as this (no model writes more in one answer).
    public static let maxEstimatedOutputTokens = 1 << 21

    /// What a request may cost before it runs (for cost-cap reservations), in micro-USD:
    /// `maxOutputTokens` (clamped; `defaultEstimatedOutputTokens` when nil) at the output
    /// price, plus one input token per 3 body bytes (text runs about 4 bytes a token) at the
    /// dearest input price (cache writes included), × `multiplier`. Unknown model → 0.
    public func estimate(model: String, bodyBytes: Int, maxOutputTokens: Int?, multiplier: Double = 1) -> Int {
        estimate(price(for: model), bodyBytes: bodyBytes, maxOutputTokens: maxOutputTokens, multiplier: multiplier)
    }

    /// `estimate(model:…)` at a price already looked up (`PriceMemo`); nil: unknown model.
    public func estimate(_ price: ModelPrice?, bodyBytes: Int, maxOutputTokens: Int?, multiplier: Double = 1) -> Int {
        guard let p = price else { return 0 }
        let output = min(max(0, maxOutputTokens ?? Self.defaultEstimatedOutputTokens), Self.maxEstimatedOutputTokens)
        let input = max(0, bodyBytes) / 3 + 1
        var dearest = p
        dearest.cacheWrite5m = max(p.input, p.cacheWrite5m, p.cacheWrite1h)
        return Self.microUSD(Usage(input: 0, output: output, cacheWrite5m: input), dearest, multiplier: multiplier)
    }

    // MARK: Overrides

    /// Reads `{ "model-prefix": {"input":…, "output":…, "cache_read":…, "cache_write_5m":…,
    /// "cache_write_1h":…} }` in USD per million tokens. `input` and `output` are required;
    /// a missing `cache_read` or `cache_write_5m` is priced as input, a missing
    /// `cache_write_1h` as `cache_write_5m`. A bad file is rejected whole, naming the entry.
    /// (Read with `JSONScan`: the module needs no Foundation.)
    public static func load(file path: String) throws(PricingError) -> [String: ModelPrice] {
        guard let bytes = readFile(path) else { throw .unreadable(path: path, reason: "cannot read the file") }
        return try parse(bytes, path: path)
    }

    /// Parses the override file's contents (see `load(file:)`).
    public static func parse(_ bytes: [UInt8], path: String = "<prices>") throws(PricingError) -> [String: ModelPrice] {
        let r: Result<[String: ModelPrice], PricingError> = bytes.withUnsafeBytes { buf in
            guard let doc = JSONScan.document(buf) else { return .failure(.invalid(path: path, reason: "not JSON")) }
            guard doc.kind == .object else { return .failure(.invalid(path: path, reason: "top level must be an object of model prefixes")) }
            var out: [String: ModelPrice] = [:]
            var failure: PricingError?
            JSONScan.forEachMember(in: buf, object: doc.range) { key, value in
                guard let prefix = JSONScan.decodeString(buf, key), !prefix.isEmpty else {
                    failure = .invalid(path: path, reason: "empty model prefix")
                    return false
                }
                guard value.kind == .object else {
                    failure = .invalid(path: path, reason: "\"\(prefix)\" must be an object")
                    return false
                }
                var fields: [String: Double] = [:]
                JSONScan.forEachMember(in: buf, object: value.range) { k, v in
                    let name = JSONScan.decodeString(buf, k) ?? ""
                    guard ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"].contains(name) else {
                        failure = .invalid(path: path, reason: "\"\(prefix)\": unknown field \(name)")
                        return false
                    }
                    guard v.kind == .number, let d = Double(String(decoding: UnsafeRawBufferPointer(rebasing: buf[v.range]), as: UTF8.self)),
                          d >= 0, d.isFinite else {
                        failure = .invalid(path: path, reason: "\"\(prefix)\".\(name) must be a non-negative number")
                        return false
                    }
                    fields[name] = d
                    return true
                }
                if failure != nil { return false }
                guard let input = fields["input"] else {
                    failure = .invalid(path: path, reason: "\"\(prefix)\".input is required")
                    return false
                }
                guard let output = fields["output"] else {
                    failure = .invalid(path: path, reason: "\"\(prefix)\".output is required")
                    return false
                }
                let w5 = fields["cache_write_5m"] ?? input
                out[prefix] = ModelPrice(input: input, output: output, cacheRead: fields["cache_read"] ?? input,
                                         cacheWrite5m: w5, cacheWrite1h: fields["cache_write_1h"] ?? w5)
                return true
            }
            if let failure { return .failure(failure) }
            return .success(out)
        }
        return try r.get()
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if out.count > 16 << 20 { return nil }
        }
    }

    /// The built-in table, merged with the file named by `CCLOAD_PRICES_FILE` when that is set.
    public static func fromEnvironment() throws(PricingError) -> Pricing {
        guard let p = getenv("CCLOAD_PRICES_FILE"), p.pointee != 0 else { return .builtIn }
        return builtIn.merging(try load(file: String(cString: p)))
    }

    // MARK: Built-in prices

    /// List prices in USD per million tokens, standard tier, as published on 2026-11-21
    /// (read that day from the stored copies of platform.claude.com/docs/en/about-claude/pricing,
    /// developers.openai.com model pages and ai.google.dev pricing). Long-context surcharges
    /// (Gemini 2.5 Pro and Claude above 200k prompt tokens, Haiku 5.5 above 100k), batch and
    /// priority tiers are not modelled: override with `CCLOAD_PRICES_FILE` where they matter.
    /// Entries marked "(secondary)" were only found in third-party price tables.
    public static let builtIn = Pricing([
        // Anthropic: input, output, cache read (hits), cache write 5 min, cache write 1 h.
        "claude-opus-5-5": ModelPrice(input: 4, output: 20, cacheRead: 0.20, cacheWrite5m: 5, cacheWrite1h: 8),  // (secondary: cache rates)
        "claude-opus-5": ModelPrice(input: 5, output: 25, cacheRead: 0.50, cacheWrite5m: 6.25, cacheWrite1h: 10),
        "claude-opus-4-8": ModelPrice(input: 5, output: 25, cacheRead: 0.50, cacheWrite5m: 6.25, cacheWrite1h: 10),
        "claude-opus-4-7": ModelPrice(input: 5, output: 25, cacheRead: 0.50, cacheWrite5m: 6.25, cacheWrite1h: 10),
        "claude-opus-4-6": ModelPrice(input: 5, output: 25, cacheRead: 0.50, cacheWrite5m: 6.25, cacheWrite1h: 10),
        "claude-opus-4-5": ModelPrice(input: 5, output: 25, cacheRead: 0.50, cacheWrite5m: 6.25, cacheWrite1h: 10),
        "claude-opus-4": ModelPrice(input: 15, output: 75, cacheRead: 1.50, cacheWrite5m: 18.75, cacheWrite1h: 30),  // 4, 4.1
        "claude-3-opus": ModelPrice(input: 15, output: 75, cacheRead: 1.50, cacheWrite5m: 18.75, cacheWrite1h: 30),
        "claude-sonnet-5-5": ModelPrice(input: 2, output: 10, cacheRead: 0.10, cacheWrite5m: 2.50, cacheWrite1h: 4),
        "claude-sonnet-5": ModelPrice(input: 2, output: 10, cacheRead: 0.20, cacheWrite5m: 2.50, cacheWrite1h: 4),
        "claude-sonnet-4": ModelPrice(input: 3, output: 15, cacheRead: 0.30, cacheWrite5m: 3.75, cacheWrite1h: 6),  // 4, 4.5, 4.6
        "claude-3-7-sonnet": ModelPrice(input: 3, output: 15, cacheRead: 0.30, cacheWrite5m: 3.75, cacheWrite1h: 6),
        "claude-3-5-sonnet": ModelPrice(input: 3, output: 15, cacheRead: 0.30, cacheWrite5m: 3.75, cacheWrite1h: 6),
        "claude-haiku-5-5": ModelPrice(input: 0.10, output: 0.50, cacheRead: 0.01, cacheWrite5m: 0.125, cacheWrite1h: 0.20),
        "claude-haiku-4": ModelPrice(input: 1, output: 5, cacheRead: 0.10, cacheWrite5m: 1.25, cacheWrite1h: 2),  // 4.5
        "claude-3-5-haiku": ModelPrice(input: 0.80, output: 4, cacheRead: 0.08, cacheWrite5m: 1, cacheWrite1h: 1.6),
        "claude-3-haiku": ModelPrice(input: 0.25, output: 1.25, cacheRead: 0.03, cacheWrite5m: 0.30, cacheWrite1h: 0.50),

        // OpenAI: input, output, cached input.
        "gpt-5.5": ModelPrice(input: 5, output: 30, cacheRead: 0.50),  // (secondary)
        "gpt-5.4": ModelPrice(input: 2.50, output: 15, cacheRead: 0.25),
        "gpt-5.4-mini": ModelPrice(input: 0.75, output: 4.50, cacheRead: 0.075),
        "gpt-5.4-nano": ModelPrice(input: 0.20, output: 1.25, cacheRead: 0.02),
        "gpt-5.3-codex": ModelPrice(input: 1.75, output: 14, cacheRead: 0.175),
        "gpt-5.2": ModelPrice(input: 1.75, output: 14, cacheRead: 0.175),  // and gpt-5.2-codex
        "gpt-5.1": ModelPrice(input: 1.25, output: 10, cacheRead: 0.125),  // and gpt-5.1-codex(-max)
        "gpt-5.1-codex-mini": ModelPrice(input: 0.25, output: 2, cacheRead: 0.025),
        "gpt-5": ModelPrice(input: 1.25, output: 10, cacheRead: 0.125),  // and gpt-5-codex
        "gpt-5-mini": ModelPrice(input: 0.25, output: 2, cacheRead: 0.025),
        "gpt-5-nano": ModelPrice(input: 0.05, output: 0.40, cacheRead: 0.005),
        "gpt-5-pro": ModelPrice(input: 15, output: 120, cacheRead: 15),
        "gpt-4.1": ModelPrice(input: 2, output: 8, cacheRead: 0.50),
        "gpt-4.1-mini": ModelPrice(input: 0.40, output: 1.60, cacheRead: 0.10),
        "gpt-4.1-nano": ModelPrice(input: 0.10, output: 0.40, cacheRead: 0.025),
        "gpt-4o": ModelPrice(input: 2.50, output: 10, cacheRead: 1.25),
        "gpt-4o-mini": ModelPrice(input: 0.15, output: 0.60, cacheRead: 0.075),
        "o1": ModelPrice(input: 15, output: 60, cacheRead: 7.50),
        "o1-mini": ModelPrice(input: 1.10, output: 4.40, cacheRead: 0.55),
        "o3": ModelPrice(input: 2, output: 8, cacheRead: 0.50),
        "o3-pro": ModelPrice(input: 20, output: 80, cacheRead: 20),
        "o3-mini": ModelPrice(input: 1.10, output: 4.40, cacheRead: 0.55),
        "o4-mini": ModelPrice(input: 1.10, output: 4.40, cacheRead: 0.275),
        "codex-mini-latest": ModelPrice(input: 1.50, output: 6, cacheRead: 0.375),

        // Gemini (prompts ≤ 200k tokens): input, output (thinking included), cached input.
        "gemini-3-pro": ModelPrice(input: 2, output: 12, cacheRead: 0.20),
        "gemini-2.5-pro": ModelPrice(input: 1.25, output: 10, cacheRead: 0.125),
        "gemini-2.5-flash": ModelPrice(input: 0.30, output: 2.50, cacheRead: 0.03),
        "gemini-2.5-flash-lite": ModelPrice(input: 0.10, output: 0.40, cacheRead: 0.01),
        "gemini-2.0-flash": ModelPrice(input: 0.10, output: 0.40, cacheRead: 0.025),
        "gemini-2.0-flash-lite": ModelPrice(input: 0.075, output: 0.30, cacheRead: 0.075),
    ])
}
