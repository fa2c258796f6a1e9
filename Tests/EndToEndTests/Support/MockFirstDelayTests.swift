import XCTest

/// The mock's `first_delay_ms` (Benchmarks/compare.sh times the first content event apart
/// from the first body byte with it): the opening events go out at once, the first
/// `content_block_delta` only after the delay, and the stream is otherwise the same.
final class MockFirstDelayTests: EndToEndCase {
    func testOpeningEventsComeFirstAndTheContentEventAfterTheDelay() throws {
        let mock = try startMock()
        let plain = try RawConnection(port: mock.port)
        try plain.send(messagesRequest(query: "stream=1&events=2"))
        let expected = try plain.readResponse(timeout: 5)
        XCTAssertTrue(expected.complete && expected.chunked)

        let c = try RawConnection(port: mock.port)
        try c.send(messagesRequest(query: "stream=1&events=2&first_delay_ms=3000"))
        XCTAssertTrue(c.readUntil(contains: "content_block_start", timeout: 5),
                      "the opening events did not come before the delay; got:\n\(c.buffer.text)")
        XCTAssertTrue(c.buffer.text.contains("message_start"), c.buffer.text)
        XCTAssertFalse(c.buffer.text.contains("content_block_delta"), "the content event did not wait:\n\(c.buffer.text)")
        let r = try c.readResponse(timeout: 15)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete && r.chunked, "stream must end with the last chunk")
        XCTAssertEqual(r.bodyText, expected.bodyText, "the delayed stream's events differ from the undelayed one's")
    }
}
