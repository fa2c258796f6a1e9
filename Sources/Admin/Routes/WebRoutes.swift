import CEpoll
import Foundation

/// The web UI's files (`Sources/Admin/Web`, compiled into the binary at build time), served
/// from the binary: `GET /web/` (index.html), `/web/{file}`, and `/web` → `/web/`. Open to
/// anyone: the files hold no secrets (the data comes from the session-protected API). Each answer has an ETag (304 for `If-None-Match`),
/// `Cache-Control: no-cache` and, when the client takes it, a gzip body compressed once.
enum WebRoutes {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/web/*", .open, serve),
    ]

    static func serve(_ call: AdminCall) {
        if call.path == "/web" {
            return call.respond(status: 301, contentType: "text/plain; charset=utf-8", headers: [("Location", "/web/")],
                                body: Array("see /web/\n".utf8))
        }
        let name = call.params["*"] ?? ""
        guard let asset = WebAsset.named(name.isEmpty ? "index.html" : name) else {
            return call.fail(404, "no web file \(call.path)")
        }
        let gzip = asset.gzip != nil && WebRoutes.acceptsGzip(call.header("accept-encoding"))
        let etag = gzip ? asset.gzipETag : asset.etag
        var headers: [(String, String)] = [("ETag", etag), ("Cache-Control", "no-cache"), ("Vary", "Accept-Encoding")]
        if let tags = call.header("if-none-match"), WebRoutes.matches(tags, etag) {
            return call.respond(status: 304, contentType: asset.contentType, headers: headers, cache: true, body: [])
        }
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        call.respond(contentType: asset.contentType, headers: headers, cache: true, body: gzip ? asset.gzip! : asset.body)
    }

    /// Whether `Accept-Encoding` lists gzip (or `*`) without `q=0`.
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first, coding == "gzip" || coding == "*" else { continue }
            let refused = parts.dropFirst().contains { p in
                p.hasPrefix("q=") && (Double(p.dropFirst(2)) ?? 1) == 0
            }
            return !refused
        }
        return false
    }

    /// Whether an `If-None-Match` list names `etag` (weak comparison) or is `*`.
    static func matches(_ header: String, _ etag: String) -> Bool {
        for item in header.split(separator: ",") {
            var t = item.trimmingCharacters(in: .whitespaces)
            if t == "*" { return true }
            if t.hasPrefix("W/") { t.removeFirst(2) }
            if t == etag { return true }
        }
        return false
    }
}

/// One embedded file: its bytes, its gzip form (nil when it would not be smaller) and
/// their ETags, computed once at first use.
struct WebAsset: Sendable {
    let contentType: StaticString
    let body: [UInt8]
    let gzip: [UInt8]?
    let etag: String
    let gzipETag: String

    init(_ text: String, _ contentType: StaticString) {
        self.contentType = contentType
        let bytes = Array(text.utf8)
        body = bytes
        let hash = WebAsset.fnv1a(bytes)
        etag = "\"\(hash)\""
        gzipETag = "\"\(hash)-gz\""
        let packed = WebAsset.compress(bytes)
        gzip = packed.flatMap { $0.count < bytes.count ? $0 : nil }
    }

    static func named(_ name: String) -> WebAsset? { all[name] }

    /// The files of `Sources/Admin/Web`, compiled in by the EmbedWebFiles plugin as `WebFiles`.
    static let all: [String: WebAsset] = [
        // The shell: it paints the frame (header, navigation, an empty main area) at once;
        // the deferred scripts then ask the API for the session and the data.
        "index.html": WebAsset(WebFiles.indexHtml, "text/html; charset=utf-8"),
        // The whole look. Colours are CSS variables with a dark set for
        // `prefers-color-scheme: dark`; below 760 px the navigation folds into a menu and
        // tables scroll sideways.
        "app.css": WebAsset(WebFiles.appCss, "text/css; charset=utf-8"),
        // The languages: one table of every string the UI shows per language (en, zh-CN),
        // t() to look one up, the choice from the browser's languages or the header's switch.
        "i18n.js": WebAsset(WebFiles.i18nJs, "text/javascript; charset=utf-8"),
        // What every page uses: building elements, calling the API (errors, 401 → login),
        // formatting, the hash router, polling that runs only while the page is visible,
        // modals, field errors, the session and the navigation its role may use, the login
        // page (username and password, or the admin's password alone), self-registration,
        // change my password, log-out.
        "core.js": WebAsset(WebFiles.coreJs, "text/javascript; charset=utf-8"),
        // Small SVG charts for hourly series: bars (stacked or not), lines and areas, a y
        // axis with round steps, time labels on x, and a tooltip per hour on hover (or tap).
        "chart.js": WebAsset(WebFiles.chartJs, "text/javascript; charset=utf-8"),
        // Dashboard, logs (searchable by request id), statistics, trends and settings (with
        // the scheduled jobs).
        "pages.js": WebAsset(WebFiles.pagesJs, "text/javascript; charset=utf-8"),
        // The keys page: client tokens (every one for the admin, a user's own for a user),
        // their groups, limits and allowed clients, the secret shown once, a token's usage.
        "keys.js": WebAsset(WebFiles.keysJs, "text/javascript; charset=utf-8"),
        // The users page (admin): roles, approval, password reset, allowed groups, key limits.
        "users.js": WebAsset(WebFiles.usersJs, "text/javascript; charset=utf-8"),
        // The groups page (admin): members from the channel list, delete with detach on 409.
        "groups.js": WebAsset(WebFiles.groupsJs, "text/javascript; charset=utf-8"),
        // The usage page: requests, tokens and cost per key, scoped to the caller.
        "usage.js": WebAsset(WebFiles.usageJs, "text/javascript; charset=utf-8"),
        // The channels page: the table with live cooldown countdowns, batch actions, the
        // create/edit form (keys, URLs, models, redirects, limits), the test button, CSV
        // import with per-row results and the export link.
        "channels.js": WebAsset(WebFiles.channelsJs, "text/javascript; charset=utf-8"),
        // The tab icon (a relay arrow on a rounded square).
        "icon.svg": WebAsset(WebFiles.iconSvg, "image/svg+xml"),
    ]

    /// FNV-1a, 64 bits, as 16 hex digits: enough to tell versions of a file apart.
    static func fnv1a(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The gzip form (deflate with a gzip wrapper: windowBits 15 + 16), or nil on failure.
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        let status: Int32 = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        out.removeLast(Int(stream.avail_out))
        return out
    }
}
