import Foundation
import XCTest

/// `/admin/metrics` reports the request log writer and the upstream pools.
final class AdminMetricsTests: RelayCase {
    func testMetricsCountRecordsAndPooledConnections() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        for _ in 0..<3 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        }
        let r = try ccload.get("/admin/metrics", headers: ["Authorization: Bearer \(try ccload.adminToken())"])
        XCTAssertEqual(r.status, 200, r.bodyText)
        guard let j = r.json, let writer = j["request_log_writer"] as? [String: Any] else {
            return XCTFail("no request_log_writer in \(r.bodyText)")
        }
        XCTAssertEqual(writer["accepted"] as? Int, 3)
        XCTAssertEqual(writer["dropped"] as? Int, 0)
        XCTAssertEqual(j["upstream_connections_opened"] as? Int, 1)
        XCTAssertEqual(j["upstream_pooled_reuses"] as? Int, 2)
        XCTAssertEqual(j["cooling_scopes"] as? Int, 0)
        XCTAssertFalse(r.bodyText.contains("sk-secret-"), "a channel key is in the metrics")
        let requests = j["requests"] as? [String: Any]
        XCTAssertEqual(requests?["2xx"] as? Int, 3, r.bodyText)
        XCTAssertEqual(requests?["total"] as? Int, 3, r.bodyText)
        XCTAssertEqual(j["active_requests"] as? Int, 0)
        XCTAssertNotNil(j["uptime_seconds"] as? Int)
        XCTAssertTrue(j["cluster"] is NSNull, "no cluster bus on an SQLite store: \(String(describing: j["cluster"]))")
    }

    func testRequestsByStatusClassAndChannelCooldowns() throws {
        let ok = try startMock()
        let failing = try startMock(["--status", "500"])
        let limited = try startMock(["--status", "429"])
        let (ccload, _) = try startRelay([
            channel("ok", url: ok.url, ["models": [RelayCase.model]]),
            channel("down", url: failing.url, ["models": ["m-500"]]),
            channel("busy", url: limited.url, ["models": ["m-429"]]),
        ])
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "m-500", stream: false)).status, 500)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "m-429", stream: false)).status, 429)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "nobody", stream: false)).status, 503)
        _ = try ccload.waitForRecords(4)
        let j = try ccload.adminJSON("/admin/metrics")
        let requests = try XCTUnwrap(j["requests"] as? [String: Any])
        XCTAssertEqual(requests["2xx"] as? Int, 1, "\(requests)")
        XCTAssertEqual(requests["5xx"] as? Int, 2, "\(requests)")
        XCTAssertEqual(requests["429"] as? Int, 1, "\(requests)")
        XCTAssertEqual(requests["4xx"] as? Int, 1, "a 429 is also a 4xx: \(requests)")
        XCTAssertEqual(requests["other"] as? Int, 0)
        XCTAssertEqual(requests["total"] as? Int, 4)
        let cooling = j["channel_cooldowns"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(cooling.compactMap { $0["channel_name"] as? String }), ["down", "busy"], "\(cooling)")
        let down = try XCTUnwrap(cooling.first { $0["channel_name"] as? String == "down" })
        XCTAssertGreaterThan((down["remaining_ms"] as? Int ?? 0) + (down["keys_cooling"] as? Int ?? 0)
                             + (down["models_cooling"] as? Int ?? 0), 0, "\(down)")
        XCTAssertGreaterThanOrEqual(j["cooling_scopes"] as? Int ?? 0, 2)
    }

    func testPrometheusEndpointOnlyWhenEnabled() throws {
        let mock = try startMock()
        let (off, _) = try startRelay([channel("a", url: mock.url)])
        XCTAssertEqual(try off.get("/metrics").status, 404)
        XCTAssertEqual(try off.get("/metrics", headers: ["Authorization: Bearer \(try off.adminToken())"]).status, 404)

        // The default test key is made from the name; a key may not hold its space or quotes.
        let (on, _) = try startRelay([channel("a \"quoted\"", url: mock.url, key: "sk-secret-quoted-0123456789")], ["CCLOAD_METRICS": "1"])
        XCTAssertEqual(try on.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try on.post("/v1/messages?status=500", anthropicBody(stream: false)).status, 500)
        _ = try on.waitForRecords(2)
        let r = try on.get("/metrics")  // no session needed
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        let text = r.bodyText
        XCTAssertTrue(text.contains("# HELP ccload_requests_total "), text)
        XCTAssertTrue(text.contains("# TYPE ccload_requests_total counter\n"), text)
        XCTAssertTrue(text.contains("ccload_requests_total{class=\"2xx\"} 1\n"), text)
        XCTAssertTrue(text.contains("# TYPE ccload_admin_logins_total counter\n"), text)
        XCTAssertTrue(text.contains("ccload_admin_logins_total{outcome=\"busy\"} 0\n"), text)
        XCTAssertTrue(text.contains("ccload_admin_logins_total{outcome=\"limited\"} 0\n"), text)
        XCTAssertTrue(text.contains("ccload_requests_total{class=\"5xx\"} 1\n"), text)
        XCTAssertTrue(text.contains("# TYPE ccload_active_streams gauge\nccload_active_streams 0\n"), text)
        XCTAssertTrue(text.contains("ccload_request_log_records_total{outcome=\"accepted\"} 2\n"), text)
        XCTAssertTrue(text.contains("ccload_request_log_dropped_total{reason=\"queue_full\"} 0\n"), text)
        XCTAssertTrue(text.contains("ccload_upstream_connections_opened_total 1\n"), text)
        // Every sample line belongs to a family announced with HELP and TYPE; counters end in _total.
        var announced: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3)
            if line.hasPrefix("# TYPE ") {
                announced[String(parts[2])] = String(parts[3])
                XCTAssertTrue(parts[3] != "counter" || parts[2].hasSuffix("_total"), "counter \(parts[2]) lacks _total")
            } else if !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                XCTAssertNotNil(announced[name], "sample of an unannounced family: \(line)")
                XCTAssertNotNil(Double(line.split(separator: " ").last ?? ""), "not a number: \(line)")
            }
        }
        XCTAssertFalse(text.contains("sk-secret-"))
    }

    func testPublicSummaryIsOpenAndHoldsNoSecrets() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("public-a", url: mock.url), channel("public-b", url: mock.url, ["enabled": false])],
                                         auth: ["client-secret-token-123"])
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: client-secret-token-123"]).status, 200)
        XCTAssertEqual(try ccload.post("/v1/messages?status=500", anthropicBody(stream: false),
                                       headers: ["x-api-key: client-secret-token-123"]).status, 500)
        _ = try ccload.waitForRecords(2)
        // Statistics are written with the logs (up to 100 ms later).
        let deadline = Date().addingTimeInterval(5)
        var j: [String: Any] = [:]
        repeat {
            let r = try ccload.get("/public/summary")
            XCTAssertEqual(r.status, 200, r.bodyText)
            j = r.json ?? [:]
            XCTAssertFalse(r.bodyText.contains("sk-secret-"), r.bodyText)
            XCTAssertFalse(r.bodyText.contains("client-secret-token"), r.bodyText)
            XCTAssertFalse(r.bodyText.contains("public-a"), "a channel name is public: \(r.bodyText)")
            if j["requests_24h"] as? Int == 2 { break }
            usleep(50_000)
        } while Date() < deadline
        XCTAssertEqual(j["requests_24h"] as? Int, 2, "\(j)")
        XCTAssertEqual(j["successes_24h"] as? Int, 1)
        XCTAssertEqual(j["success_rate_24h"] as? Double, 0.5)
        XCTAssertEqual(j["channels_total"] as? Int, 2)
        XCTAssertEqual(j["channels_enabled"] as? Int, 1)
        XCTAssertNotNil(j["uptime_seconds"] as? Int)
        XCTAssertFalse((j["version"] as? String ?? "").isEmpty)
        XCTAssertFalse(ccload.process.stderrText.contains("client-secret-token"))
    }

    /// Connections turned away at the connection cap are counted, in the JSON and in the
    /// Prometheus text; none is counted while under the cap.
    func testConnectionsRefusedAtTheCapAreCounted() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], ["CCLOAD_MAX_CONNECTIONS": "3", "CCLOAD_METRICS": "1"])
        let before = try XCTUnwrap(try ccload.adminJSON("/admin/metrics")["client_connections"] as? [String: Any])
        XCTAssertEqual(before["refused_at_limit"] as? Int, 0, "\(before)")
        XCTAssertEqual(before["shed_out_of_descriptors"] as? Int, 0, "\(before)")
        XCTAssertEqual(before["descriptor_exhaustions"] as? Int, 0, "\(before)")
        XCTAssertGreaterThanOrEqual(before["accepted"] as? Int ?? 0, 1, "\(before)")
        // Three held open (the cap), then two over it.
        var open: [RawConnection] = []
        for _ in 0..<3 {
            let c = try ccload.connect()
            try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try c.readResponse(timeout: 5).status, 200)
            open.append(c)
        }
        for _ in 0..<2 {
            let over = try ccload.connect()
            XCTAssertEqual(try over.readResponse(timeout: 5).status, 503)
        }
        open = []
        // A slot frees once ccload sees a close: until then a new connection is refused too
        // (counted here), and the one served carries the metrics calls (keep-alive).
        var refusedMore = 0
        var served: RawConnection?
        let deadline = Date().addingTimeInterval(10)
        while served == nil && Date() < deadline {
            let c = try ccload.connect()
            try? c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            switch (try? c.readResponse(timeout: 5))?.status {
            case 200?: served = c
            case 503?: refusedMore += 1
            default: usleep(20_000)
            }
        }
        let c = try XCTUnwrap(served, "no connection was served after the others closed")
        let bearer = "Authorization: Bearer \(try ccload.adminToken())"
        try c.send("GET /admin/metrics HTTP/1.1\r\nHost: x\r\n\(bearer)\r\n\r\n")
        let after = try XCTUnwrap(try c.readResponse(timeout: 10).json?["client_connections"] as? [String: Any])
        XCTAssertEqual(after["refused_at_limit"] as? Int, 2 + refusedMore, "\(after)")
        XCTAssertGreaterThanOrEqual(after["accepted"] as? Int ?? 0, (before["accepted"] as? Int ?? 0) + 3, "\(after)")
        try c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try c.readResponse(timeout: 10).bodyText
        XCTAssertTrue(text.contains("# TYPE ccload_client_connections_total counter\n"), text)
        XCTAssertTrue(text.contains("ccload_client_connections_total{outcome=\"refused_at_limit\"} \(2 + refusedMore)\n"), text)
        XCTAssertTrue(text.contains("ccload_client_connections_total{outcome=\"shed_out_of_descriptors\"} 0\n"), text)
        XCTAssertTrue(text.contains("ccload_descriptor_exhaustions_total 0\n"), text)
    }

    func testMetricsNeedAnAdminSessionNotAClientToken() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], auth: ["metrics-token"])
        XCTAssertEqual(try ccload.get("/admin/metrics").status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["x-api-key: metrics-token"]).status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["Authorization: Bearer metrics-token"]).status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["Authorization: Bearer \(try ccload.adminToken())"]).status, 200)
    }

    /// Requests refused before routing (a bad client token, a body that is not JSON) and
    /// pass-through requests are counted by status class too, but never logged.
    func testRefusedAndPassThroughRequestsAreCounted() throws {
        let mock = try startMock()
        let (relay, _) = try startRelay([channel("a", url: mock.url)], auth: ["count-token"])
        XCTAssertEqual(try relay.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: wrong"]).status, 401)
        XCTAssertEqual(try relay.post("/v1/messages", "{not json", headers: ["x-api-key: count-token"]).status, 400)
        XCTAssertEqual(try relay.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: count-token"]).status, 200)
        let auth = ["Authorization: Bearer \(try relay.adminToken())"]
        let requests = try XCTUnwrap(try relay.get("/admin/metrics", headers: auth).json?["requests"] as? [String: Any])
        XCTAssertEqual(requests["4xx"] as? Int, 2, "\(requests)")
        XCTAssertEqual(requests["2xx"] as? Int, 1, "\(requests)")
        _ = try relay.waitForRecords(1)
        XCTAssertEqual(try relay.records().count, 1, "only the routed request is recorded")

        let pass = try startCcload(upstream: mock.url)
        XCTAssertEqual(try pass.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try pass.post("/v1/messages", anthropicBody(stream: false), headers: ["x-mock-status: 503"]).status, 503)
        let p = try XCTUnwrap(try pass.get("/admin/metrics", headers: ["Authorization: Bearer \(try pass.adminToken())"]).json?["requests"] as? [String: Any])
        XCTAssertEqual(p["2xx"] as? Int, 1, "\(p)")
        XCTAssertEqual(p["5xx"] as? Int, 1, "\(p)")
    }
}
