import Reactor
import TLS

/// The JSON shape a webhook receiver takes (`WebhookPayload` writes each).
public enum WebhookFormat: String, Sendable, CaseIterable {
    /// `{"event":…, "text":…, …fields}`: any receiver that reads JSON.
    case generic
    /// Slack incoming webhook: `{"text":…}`.
    case slack
    /// Feishu (Lark) custom bot: `{"msg_type":"text","content":{"text":…}}`.
    case feishu
    /// DingTalk custom robot: `{"msgtype":"text","text":{"content":…}}`.
    case dingtalk
    /// WeCom (WeChat Work) group robot: `{"msgtype":"text","text":{"content":…}}`.
    case wecom
}

/// One receiver of notices: a URL (which often holds a secret token in its path or query:
/// Slack's `/services/…`, DingTalk's `access_token`, WeCom's `key`) and a format. The URL is
/// a secret: admin answers and logs show `masked` (scheme, host and port only).
public struct Webhook: Sendable, Equatable {
    public var format: WebhookFormat
    public var url: String
    /// Where to connect (scheme, host, port; no path).
    public let target: UpstreamTarget
    /// The request target: path and query.
    public let requestTarget: [UInt8]

    public static func == (a: Webhook, b: Webhook) -> Bool { a.format == b.format && a.url == b.url }

    /// `url` as `http(s)://host[:port][/path][?query]`, nil when it is not one.
    public init?(format: WebhookFormat, url: String) {
        guard url.hasPrefix("http://") || url.hasPrefix("https://"),
              !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "#" }) else { return nil }
        let afterScheme = url.drop { $0 != "/" }.dropFirst(2)
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let origin = String(url[..<authorityEnd])
        guard let t = UpstreamTarget(url: origin) else { return nil }
        var rest = String(afterScheme[authorityEnd...])
        if rest.hasPrefix("?") { rest = "/" + rest }
        if rest.isEmpty { rest = "/" }
        self.format = format
        self.url = url
        target = t
        requestTarget = Array(rest.utf8)
    }

    /// What an admin answer or a log shows: `format=scheme://host[:port]/****` (the path
    /// and query, where tokens live, hidden).
    public var masked: String {
        "\(format.rawValue)=\(target.dial.tls ? "https" : "http")://\(String(decoding: target.hostHeader, as: UTF8.self))"
            + (requestTarget == Array("/".utf8) ? "" : "/****")
    }

    /// For logs: the entry's position and host, never its path.
    public func label(_ index: Int) -> String {
        "webhook \(index + 1) (\(format.rawValue), \(String(decoding: target.hostHeader, as: UTF8.self)))"
    }
}

/// The `webhooks` setting: entries separated by commas, spaces or new lines, each
/// `format=url` (`slack=https://hooks.slack.com/services/…`) or a bare `url` (generic JSON).
/// `none` or empty: no webhooks.
public enum WebhookList {
    /// At most this many webhooks.
    public static let maxCount = 16
    public static let maxURLLength = 2048

    /// The entries' texts as written (empty for none).
    static func entries(_ text: String) -> [Substring] {
        let parts = text.split { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if parts.count == 1 && parts[0] == "none" { return [] }
        return parts
    }

    /// The webhooks `text` lists, or why it does not parse (naming entries by position,
    /// never quoting a URL: it may hold a token).
    public static func parse(_ text: String) -> Result<[Webhook], WebhookListError> {
        let parts = entries(text)
        if parts.count > maxCount { return .failure(WebhookListError("at most \(maxCount) webhooks, not \(parts.count)")) }
        var out: [Webhook] = []
        for (i, p) in parts.enumerated() {
            var format = WebhookFormat.generic
            var url = Substring(p)
            if !p.hasPrefix("http://") && !p.hasPrefix("https://"), let eq = p.firstIndex(of: "=") {
                guard let f = WebhookFormat(rawValue: String(p[..<eq]).lowercased()) else {
                    return .failure(WebhookListError("entry \(i + 1): the format must be one of \(WebhookFormat.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                format = f
                url = p[p.index(after: eq)...]
            }
            guard url.utf8.count <= maxURLLength else {
                return .failure(WebhookListError("entry \(i + 1): the URL is longer than \(maxURLLength) bytes"))
            }
            guard let w = Webhook(format: format, url: String(url)) else {
                return .failure(WebhookListError("entry \(i + 1): the URL must be http(s)://host[:port][/path][?query], without credentials or a fragment"))
            }
            out.append(w)
        }
        return .success(out)
    }

    /// The setting as admin answers show it: every URL masked.
    public static func masked(_ text: String) -> String {
        guard case .success(let hooks) = parse(text), !hooks.isEmpty else { return entries(text).isEmpty ? text : "(invalid)" }
        return hooks.map(\.masked).joined(separator: ",")
    }

    /// `text` as sent with its masked entries (`masked` re-submitted, a form saved whole) put
    /// back as the stored webhooks they mask: the same position first, else the first stored
    /// one with that mask. A masked entry that masks nothing stored is an error.
    public static func unmask(_ text: String, stored: String) -> Result<String, WebhookListError> {
        let parts = entries(text)
        guard parts.contains(where: { $0.hasSuffix("/****") }) else {
            return .success(text)
        }
        let kept = (try? parse(stored).get()) ?? []
        var out: [String] = []
        for (i, p) in parts.enumerated() {
            guard p.hasSuffix("/****") else {
                out.append(String(p))
                continue
            }
            let same = i < kept.count && kept[i].masked == p ? kept[i] : nil
            guard let match = same ?? kept.first(where: { $0.masked == p }) else {
                return .failure(WebhookListError("entry \(i + 1) is masked and matches no stored webhook; give its whole URL"))
            }
            out.append("\(match.format.rawValue)=\(match.url)")
        }
        return .success(out.joined(separator: ","))
    }
}

public struct WebhookListError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
