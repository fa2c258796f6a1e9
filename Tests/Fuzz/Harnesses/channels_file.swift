// ChannelFile (CCLOAD_CHANNELS_FILE: a JSON array or CSV): any bytes give channels or a
// ChannelFileError, never a trap; every channel read builds back from its own fields to the
// same channel (fields → build → fields), and the channels either form a table or are
// refused with a ChannelTableError.

import Foundation
@testable import Proxy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let channels: [Channel]
    do {
        channels = try ChannelFile.parse(bytes)
    } catch {
        check(!error.description.isEmpty, "an empty error")
        return 0
    }
    for c in channels {
        let f = ChannelFile.fields(of: c)
        do {
            let again = try ChannelFile.build(f, position: c.id)
            check(ChannelFile.fields(of: again) == f, "channel \(c.name.debugDescription) does not build back from its fields:\n \(f)\n \(ChannelFile.fields(of: again))")
        } catch {
            fail("channel \(c.name.debugDescription) read from the file fails to build from its fields: \(error)")
        }
    }
    _ = try? ChannelTable(channels, state: RoutingState())
    return 0
}
