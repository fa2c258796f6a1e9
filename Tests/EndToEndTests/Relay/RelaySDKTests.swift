import Foundation
import XCTest

/// The official `anthropic` and `openai` Python SDKs as clients of ccload (scripts in
/// `sdk/`). CI installs both (`.ci/run`); a missing SDK fails these tests, never skips them.
final class RelaySDKTests: RelayCase {
    static let token = "ccl-sdk-token-7373"
    static let anthropicKey = "sk-ant-sdk-chan-key-1111"
    static let openAIKey = "sk-oai-sdk-chan-key-2222"

    /// Runs `sdk/<script>` with python3 from the test runner's PATH; returns its JSON output.
    private func runPython(_ script: String, _ env: [String: String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sdk/\(script)").path
        guard FileManager.default.fileExists(atPath: path) else { throw TestFailure("missing \(path)") }
        var environment = env
        let mine = ProcessInfo.processInfo.environment
        // The runner's python (pyenv, venv) is where pip put the SDKs.
        for k in ["PATH", "PYENV_ROOT", "PYENV_VERSION", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"] { if let v = mine[k] { environment[k] = v } }
        environment["NO_PROXY"] = "127.0.0.1,localhost"
        let p = try ProcessUnderTest(executable: "/usr/bin/env", arguments: ["python3", path], environment: environment)
        defer { p.stop() }
        guard let code = p.waitForExit(timeout: 90) else {
            throw TestFailure("\(script) did not finish within 90 s; stdout: \(p.stdoutText) stderr: \(p.stderrText)")
        }
        let out = p.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let lastLine = out.components(separatedBy: "\n").last ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(lastLine.utf8))) as? [String: Any]
        if code == 3 {
            XCTFail("the Python SDK is not installed (pip install anthropic openai; .ci/run does): \(json?["error"] ?? out)", file: file, line: line)
        }
        XCTAssertEqual(code, 0, "\(script) exited \(code); stdout: \(out)\nstderr: \(p.stderrText)", file: file, line: line)
        guard let json else { throw TestFailure("\(script) printed no JSON; stdout: \(out)\nstderr: \(p.stderrText)") }
        return json
    }

    private func dict(_ j: [String: Any], _ path: String...) -> [String: Any]? {
        var cur: Any? = j
        for k in path { cur = (cur as? [String: Any])?[k] }
        return cur as? [String: Any]
    }

    func testAnthropicSDK() throws {
        let mock = try startMock(["--require-key", RelaySDKTests.anthropicKey, "--input-tokens", "321", "--output-tokens", "45",
                                  "--cache-read", "1000", "--cache-write-5m", "20", "--cache-write-1h", "30", "--events", "4"])
        let ccload = try startRelay([channel("ant", url: mock.url, key: RelaySDKTests.anthropicKey, ["models": [RelayCase.model]])],
                                    auth: [RelaySDKTests.token]).ccload
        let out = try runPython("anthropic_client.py", ["CCLOAD_URL": ccload.url, "CCLOAD_TOKEN": RelaySDKTests.token, "MODEL": RelayCase.model])
        XCTAssertNil(out["error"], "\(out)")

        let create = try XCTUnwrap(dict(out, "create"), "\(out)")
        XCTAssertEqual(create["type"] as? String, "message")
        let text = create["text"] as? String ?? ""
        XCTAssertFalse(text.isEmpty)
        XCTAssertTrue(text.allSatisfy { $0 == "a" }, "the mock's padded text did not arrive intact: \(text.prefix(80))")
        XCTAssertEqual(dict(create, "usage")?["input_tokens"] as? Int, 321)
        XCTAssertEqual(dict(create, "usage")?["output_tokens"] as? Int, 45)
        XCTAssertEqual(dict(create, "usage")?["cache_read_input_tokens"] as? Int, 1000)
        XCTAssertEqual(dict(create, "usage")?["cache_creation_input_tokens"] as? Int, 50)

        let stream = try XCTUnwrap(dict(out, "stream"), "\(out)")
        XCTAssertEqual(stream["text"] as? String, "token0 token1 token2 token3 ")
        XCTAssertEqual(stream["final_text"] as? String, "token0 token1 token2 token3 ")
        XCTAssertEqual(stream["stop_reason"] as? String, "end_turn")
        XCTAssertEqual(dict(stream, "usage")?["output_tokens"] as? Int, 45)
        XCTAssertEqual(dict(stream, "usage")?["input_tokens"] as? Int, 321)

        XCTAssertEqual(dict(out, "broken_stream")?["raised"] as? Bool, true, "a stream cut after the commit point ended quietly: \(out)")
        XCTAssertEqual(dict(out, "unserved")?["status"] as? Int, 503, "\(out)")
        XCTAssertTrue((dict(out, "unserved")?["message"] as? String ?? "").contains("no-such-model-x"), "\(out)")
        XCTAssertEqual(dict(out, "bad_token")?["status"] as? Int, 401, "\(out)")
        XCTAssertEqual(out["models"] as? [String], [RelayCase.model])

        // What the upstream got: the channel key in x-api-key, never the client token.
        let stats = try mock.stats()
        XCTAssertEqual(stats["requests"] as? Int, 3, "create, stream and the broken stream; \(stats)")
        XCTAssertEqual(stats["last_x_api_key"] as? String, RelaySDKTests.anthropicKey)
        let head = try mock.lastRequest().head
        XCTAssertFalse(head.contains(RelaySDKTests.token), head)
        XCTAssertTrue(head.lowercased().contains("\nanthropic-version: 20"), "anthropic-version did not pass through:\n\(head)")

        // The records: usage as the mock reported it, for the streamed request.
        // create, stream, broken stream, the 503 (a refused token leaves no record).
        let recs = try ccload.waitForRecords(4)
        let streamed = try XCTUnwrap(recs.first { $0["stream"] as? Bool == true && $0["error"] == nil }, "\(recs)")
        XCTAssertEqual(streamed["input_tokens"] as? Int, 321)
        XCTAssertEqual(streamed["output_tokens"] as? Int, 45)
        XCTAssertEqual(streamed["cache_read_tokens"] as? Int, 1000)
        XCTAssertEqual(streamed["cache_write5m_tokens"] as? Int, 20)
        XCTAssertEqual(streamed["cache_write1h_tokens"] as? Int, 30)
        XCTAssertGreaterThan(streamed["cost_micro_usd"] as? Int ?? 0, 0)
        XCTAssertTrue((streamed["user_agent"] as? String ?? "").contains("Anthropic"), "\(streamed)")
        XCTAssertFalse(ccload.process.stderrText.contains(RelaySDKTests.anthropicKey))
    }

    func testOpenAISDK() throws {
        let mock = try startMock(["--require-key", RelaySDKTests.openAIKey, "--input-tokens", "500", "--output-tokens", "60",
                                  "--cache-read", "100", "--events", "3"])
        let ccload = try startRelay([
            channel("chat", "openai", url: mock.url, key: RelaySDKTests.openAIKey, ["models": ["gpt-5"]]),
            channel("resp", "codex", url: mock.url, key: RelaySDKTests.openAIKey, ["models": ["gpt-5.1-codex"]]),
        ], auth: [RelaySDKTests.token]).ccload
        let out = try runPython("openai_client.py", ["CCLOAD_URL": ccload.url, "CCLOAD_TOKEN": RelaySDKTests.token,
                                                     "CHAT_MODEL": "gpt-5", "RESPONSES_MODEL": "gpt-5.1-codex"])
        XCTAssertNil(out["error"], "\(out)")
        let expected = "token0 token1 token2 "

        let chat = try XCTUnwrap(dict(out, "chat"), "\(out)")
        XCTAssertEqual(chat["object"] as? String, "chat.completion")
        XCTAssertEqual(chat["text"] as? String, expected)
        XCTAssertEqual(chat["finish_reason"] as? String, "stop")
        XCTAssertEqual(dict(chat, "usage")?["prompt_tokens"] as? Int, 500)
        XCTAssertEqual(dict(chat, "usage")?["completion_tokens"] as? Int, 60)
        XCTAssertEqual(dict(chat, "usage")?["cached_tokens"] as? Int, 100)

        let stream = try XCTUnwrap(dict(out, "chat_stream"), "\(out)")
        XCTAssertEqual(stream["text"] as? String, expected)
        XCTAssertEqual(stream["finish_reason"] as? String, "stop")
        XCTAssertEqual(dict(stream, "usage")?["prompt_tokens"] as? Int, 500)

        XCTAssertEqual(dict(out, "broken_stream")?["raised"] as? Bool, true, "a chat stream cut after the commit point ended quietly: \(out)")

        let responses = try XCTUnwrap(dict(out, "responses"), "the openai SDK has no responses API? \(out)")
        XCTAssertEqual(responses["status"] as? String, "completed")
        XCTAssertEqual(responses["text"] as? String, expected)
        XCTAssertEqual(dict(responses, "usage")?["output_tokens"] as? Int, 60)
        let rstream = try XCTUnwrap(dict(out, "responses_stream"), "\(out)")
        XCTAssertEqual(rstream["text"] as? String, expected)
        XCTAssertEqual(dict(rstream, "completed")?["status"] as? String, "completed")
        XCTAssertEqual(dict(rstream, "completed")?["output_tokens"] as? Int, 60)

        XCTAssertEqual(dict(out, "bad_token")?["status"] as? Int, 401, "\(out)")
        XCTAssertEqual(out["models"] as? [String], ["gpt-5"], "\(out)")

        let stats = try mock.stats()
        XCTAssertEqual(stats["requests"] as? Int, 5, "chat ×2, broken stream, responses ×2; \(stats)")
        XCTAssertEqual(stats["last_authorization"] as? String, "Bearer " + RelaySDKTests.openAIKey)
        XCTAssertEqual(stats["last_path"] as? String, "/v1/responses")
        XCTAssertEqual(stats["last_model"] as? String, "gpt-5.1-codex")

        let recs = try ccload.waitForRecords(5)
        let chatStream = try XCTUnwrap(recs.first { $0["protocol_name"] as? String == "openai" && $0["stream"] as? Bool == true && $0["error"] == nil }, "\(recs)")
        XCTAssertEqual(chatStream["input_tokens"] as? Int, 400, "prompt 500 minus 100 cached")
        XCTAssertEqual(chatStream["cache_read_tokens"] as? Int, 100)
        XCTAssertEqual(chatStream["output_tokens"] as? Int, 60)
        XCTAssertGreaterThan(chatStream["cost_micro_usd"] as? Int ?? 0, 0)
        let respStream = try XCTUnwrap(recs.first { $0["protocol_name"] as? String == "codex" && $0["stream"] as? Bool == true }, "\(recs)")
        XCTAssertEqual(respStream["output_tokens"] as? Int, 60)
        XCTAssertEqual(respStream["priced"] as? Bool, true)
        XCTAssertFalse(ccload.process.stderrText.contains(RelaySDKTests.openAIKey))
    }
}
