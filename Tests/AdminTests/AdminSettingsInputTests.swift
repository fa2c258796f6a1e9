import Foundation
import XCTest

@testable import Admin
@testable import Proxy

final class AdminSettingsInputTests: XCTestCase {
    func text(_ json: String, _ type: SettingType) -> Result<String, AdminError> {
        do {
            let input = try JSONDecoder().decode(AdminSettings.Input.self, from: Data(json.utf8))
            return .success(try input.text(for: type, key: "some_setting"))
        } catch let e as AdminError {
            return .failure(e)
        } catch {
            return .failure(AdminError(500, "\(error)"))
        }
    }

    /// A string setting's value is stored as text and shown in the UI: no control characters.
    func testStringValuesRefuseControlCharacters() {
        XCTAssertEqual(try? text(#""plain value, with spaces""#, .string).get(), "plain value, with spaces")
        for bad in [#""a\r\nb""#, #""a\u0000b""#, #""a\tb""#, #""a\u2028b""#] {
            guard case .failure(let e) = text(bad, .string) else { XCTFail("\(bad) accepted"); continue }
            XCTAssertEqual(e.field, "some_setting", bad)
        }
        // Numbers given as strings still meet the catalog's own check after this one.
        XCTAssertEqual(try? text(#""12""#, .int).get(), "12")
    }
}
