import Foundation
import XCTest

/// The web UI's files as ccload serves them from the binary: types, security headers,
/// ETag and 304, gzip, HEAD without a body, the `/web` redirect and 404s.
final class WebAssetTests: EndToEndCase {
    func testIndexAndEveryFileItNames() throws {
        let ccload = try startCcload(upstream: nil)
        let r = try ccload.request("GET /web/ HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("content-type"), "text/html; charset=utf-8")
        XCTAssertEqual(r.header("cache-control"), "no-cache")
        XCTAssertNotNil(r.header("etag"))
        XCTAssertTrue(r.header("content-security-policy")?.contains("script-src 'self'") ?? false)
        XCTAssertEqual(r.header("x-frame-options"), "DENY")
        let html = r.bodyText
        // The CSP forbids inline script and style: the shell must not need them.
        XCTAssertFalse(html.contains("<style"), "inline style in index.html")
        XCTAssertFalse(html.contains(" style="), "style attribute in index.html")
        XCTAssertFalse(html.range(of: #"<script(?![^>]*\bsrc=)"#, options: .regularExpression) != nil, "inline script in index.html")
        XCTAssertFalse(html.range(of: #"\son[a-z]+="#, options: .regularExpression) != nil, "event handler attribute in index.html")
        let refs = html.matches(of: /(?:src|href)="(\/web\/[^"]+)"/).map { String($0.1) }
        XCTAssertGreaterThanOrEqual(refs.count, 5, "index.html names its scripts, style and icon")
        for path in Set(refs) {
            let a = try ccload.request("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(a.status, 200, path)
            let type = a.header("content-type") ?? ""
            if path.hasSuffix(".js") { XCTAssertEqual(type, "text/javascript; charset=utf-8", path) }
            if path.hasSuffix(".css") { XCTAssertEqual(type, "text/css; charset=utf-8", path) }
            if path.hasSuffix(".svg") { XCTAssertEqual(type, "image/svg+xml", path) }
            XCTAssertFalse(a.body.isEmpty, path)
        }
    }

    func testETagGzipHeadRedirectAndMissing() throws {
        let ccload = try startCcload(upstream: nil)
        let plain = try ccload.request("GET /web/core.js HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNil(plain.header("content-encoding"))
        guard let etag = plain.header("etag") else { return XCTFail("no ETag") }
        XCTAssertEqual(try ccload.request("GET /web/core.js HTTP/1.1\r\nHost: a\r\nIf-None-Match: \(etag)\r\n\r\n").status, 304)
        XCTAssertEqual(try ccload.request("GET /web/core.js HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\n\r\n").status, 200)

        let gz = try curl(["--compressed", "-H", "Accept-Encoding: gzip", ccload.url + "/web/core.js"])
        XCTAssertEqual(gz.status, 200)
        XCTAssertTrue(gz.headers.lowercased().contains("content-encoding: gzip"), gz.headers)
        XCTAssertEqual(gz.body, plain.body, "the gzip body inflates to the plain one")
        let refused = try ccload.request("GET /web/core.js HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n")
        XCTAssertNil(refused.header("content-encoding"))

        // HEAD: the head only (same Content-Length), and the connection stays usable.
        let c = try ccload.connect()
        try c.send("HEAD /web/app.css HTTP/1.1\r\nHost: a\r\n\r\nGET /web/icon.svg HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try c.readResponse(requestWasHEAD: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertGreaterThan(Int(head.header("content-length") ?? "") ?? 0, 0)
        XCTAssertTrue(head.body.isEmpty)
        let next = try c.readResponse()
        XCTAssertEqual(next.status, 200)
        XCTAssertTrue(next.bodyText.hasPrefix("<svg"), "the response after HEAD starts cleanly: \(next.bodyText.prefix(40))")

        let redirect = try ccload.request("GET /web HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(redirect.status, 301)
        XCTAssertEqual(redirect.header("location"), "/web/")
        XCTAssertEqual(try ccload.request("GET /web/nothing.js HTTP/1.1\r\nHost: a\r\n\r\n").status, 404)
        XCTAssertEqual(try ccload.request("GET /web/../admin/session HTTP/1.1\r\nHost: a\r\n\r\n").status, 404)
    }

    /// Every file of `Sources/Admin/Web` is served at `/web/<name>` with exactly the file's
    /// bytes (no newline added or dropped, no indentation stripped, so a browser's line and
    /// column point into the file), plain and gzip alike, and nothing else is served.
    func testEveryWebFileIsServedByteForByte() throws {
        let folder = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Admin/Web")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(names, ["app.css", "channels.js", "chart.js", "core.js", "groups.js", "i18n.js", "icon.svg", "index.html", "keys.js",
                               "pages.js", "usage.js", "users.js"])
        let ccload = try startCcload(upstream: nil)
        for name in names {
            let file = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            let plain = try ccload.request("GET /web/\(name) HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(plain.status, 200, name)
            XCTAssertNil(plain.header("content-encoding"), name)
            XCTAssertTrue(plain.body == file, "/web/\(name) is not Sources/Admin/Web/\(name): \(Self.difference(plain.body, file))")
            let gz = try curl(["--compressed", "-H", "Accept-Encoding: gzip", ccload.url + "/web/\(name)"])
            XCTAssertEqual(gz.status, 200, name)
            XCTAssertTrue(gz.body == file, "gzip /web/\(name) is not Sources/Admin/Web/\(name): \(Self.difference(gz.body, file))")
        }
        let index = try [UInt8](Data(contentsOf: folder.appendingPathComponent("index.html")))
        XCTAssertTrue(try ccload.request("GET /web/ HTTP/1.1\r\nHost: a\r\n\r\n").body == index, "/web/ is index.html")
    }

    /// Where two byte strings part: their lengths and the first offset that differs.
    private static func difference(_ served: [UInt8], _ file: [UInt8]) -> String {
        let shorter = min(served.count, file.count)
        let first = (0..<shorter).first { served[$0] != file[$0] } ?? shorter
        return "\(served.count) bytes served, \(file.count) in the file, first difference at byte \(first)"
    }
}
