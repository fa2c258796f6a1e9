import Foundation
import Proxy
import Reactor

/// `GET /admin/logs.csv`: the request log as CSV, with `/admin/logs`'s filters, newest
/// first, streamed a page at a time (`pageRows` rows read and formatted on a reader
/// thread, written on the loop, the next page asked for only once the client has taken
/// the last: memory stays at about one page and the connection's write queue however
/// long the log). A user's export holds only their own tokens' rows (another user's
/// `token_id` answers 404). Chunked for HTTP/1.1, until close for HTTP/1.0. A failure
/// before the first page is an ordinary error answer; one after it ends the body short.
///
/// Owner: the loop of the call (a store completion runs there too).
final class LogExport: ResponseStreamDelegate, @unchecked Sendable {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/logs.csv", .user, export),
    ]

    /// Rows per page (one reader job, one chunk).
    static let pageRows = 500

    static let columns = ["id", "time_ms", "time_utc", "request_id", "user_id", "username", "token_id", "token_name", "group_id",
                          "channel_id", "channel_name", "key_index", "protocol", "path", "model", "upstream_model", "stream",
                          "status", "ttfb_ms", "duration_ms", "input_tokens", "output_tokens", "cache_read_tokens",
                          "cache_write_5m_tokens", "cache_write_1h_tokens", "cost_usd", "priced", "usage_known", "error",
                          "client", "user_agent"]

    /// The names a row shows, as the caller may see them (a user: their own name and tokens).
    struct Names: Sendable {
        var tokens: [Int: String] = [:]
        var users: [Int: String] = [:]
    }

    struct Page: Sendable {
        var bytes: [UInt8]
        var next: Int64?
        var names: Names
    }

    private let call: AdminCall
    private var query: LogQuery
    private var names: Names?
    private var closed = false
    private var waitingForClient = false

    private init(call: AdminCall, query: LogQuery) {
        self.call = call
        self.query = query
    }

    static func export(_ call: AdminCall) {
        var q: LogQuery
        do { q = try AdminQueries.logQuery(call) } catch { return call.fail(error) }
        q.limit = pageRows
        let caller = call.caller
        if !caller.isAdmin {
            let me = caller.userID ?? 0
            if let u = q.userID, u != me { return call.fail(AdminError.notFound("user \(u) does not exist")) }
            q.userID = me
        }
        LogExport(call: call, query: q).nextPage(first: true)
    }

    /// Reads and formats the next page on a reader thread; on the loop, writes it.
    private func nextPage(first: Bool) {
        let q = query
        let known = names
        let caller = call.caller
        call.context.store.query({ reader -> Result<Page, AdminError> in
            do {
                var names = known ?? Names()
                if known == nil {
                    if let t = q.tokenID, !caller.isAdmin { _ = try AdminTokens.existing(reader.store, t, for: caller) }
                    let tokens = try caller.isAdmin ? reader.store.tokens() : reader.store.tokens(ownerUserID: caller.userID ?? 0)
                    for t in tokens { names.tokens[t.id] = t.name }
                    for u in try reader.store.users() where caller.isAdmin || u.id == caller.userID { names.users[u.id] = u.username }
                }
                let page = try reader.logs(q)
                var out = first ? CSVText.document(header: Self.columns) : []
                for e in page.entries { Self.append(e, names, to: &out) }
                return .success(Page(bytes: out, next: page.nextBeforeID, names: names))
            } catch {
                return .failure(AdminError(thrown: error))
            }
        }, on: call.loop) { [self] result in
            guard !closed else { return }
            switch result {
            case .failure(let e):
                if first { return call.fail(e) }
                Log.warn("request log export ended early: \(e.message)")
                call.connection.abortResponse()
            case .success(let page):
                if first { startResponse() }
                names = page.names
                page.bytes.withUnsafeBytes { call.connection.writeBody($0) }
                guard let next = page.next else { return call.connection.endResponse() }
                query.beforeID = next
                if call.connection.isCongested {
                    waitingForClient = true
                } else {
                    nextPage(first: false)
                }
            }
        }
    }

    private func startResponse() {
        let c = call.connection
        let chunked = c.requestVersionMinor >= 1
        if !chunked { c.disableKeepAlive() }
        var head: [UInt8] = []
        HTTP1Writer.appendStatusLine(&head, status: 200)
        HTTP1Writer.appendHeader(&head, name: "Content-Type", value: "text/csv; charset=utf-8")
        HTTP1Writer.appendHeader(&head, name: "Content-Disposition", value: "attachment; filename=\"ccload-logs.csv\"")
        for (k, v) in AdminCall.securityHeaders + [("Cache-Control", "no-store")] {
            HTTP1Writer.appendHeader(&head, name: Array(k.utf8)[...], value: Array(v.utf8)[...])
        }
        if chunked { HTTP1Writer.appendHeader(&head, name: "Transfer-Encoding", value: "chunked") }
        c.appendConnectionHeader(&head)
        HTTP1Writer.appendEndOfHead(&head)
        c.streamDelegate = self
        head.withUnsafeBytes { c.startResponse(head: $0, framing: chunked ? .chunked : .untilClose, flushNow: false) }
    }

    func clientWritable() {
        guard waitingForClient, !closed else { return }
        waitingForClient = false
        nextPage(first: false)
    }

    func clientClosed() { closed = true }

    // MARK: rows

    static func append(_ e: LogEntry, _ names: Names, to out: inout [UInt8]) {
        let r = e.record
        func opt<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
        let ms = { (micros: UInt64) in String(AdminQueries.millis(micros)) }
        CSVText.append(row: [
            String(e.id), String(r.timeMillis), timeText(r.timeMillis), r.requestID.isEmpty ? "" : r.requestID.description,
            opt(r.userID), opt(r.userID.flatMap { names.users[$0] }), opt(r.tokenID), opt(r.tokenID.flatMap { names.tokens[$0] }),
            opt(r.groupID), opt(r.channelID), r.channelName ?? "", opt(r.keyIndex), r.protocolName, r.path, r.requestedModel,
            r.upstreamModel, String(r.stream), String(r.status), r.ttfbMicros.map(ms) ?? "", ms(r.durationMicros),
            String(r.inputTokens), String(r.outputTokens), String(r.cacheReadTokens), String(r.cacheWrite5mTokens),
            String(r.cacheWrite1hTokens), String(AdminQueries.usd(r.costMicroUSD)), String(r.priced), String(r.usageKnown),
            r.error ?? "", r.clientAddress, r.userAgent,
        ], to: &out)
    }

    /// `2026-12-01T17:31:28.123Z`.
    static func timeText(_ millis: UInt64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
