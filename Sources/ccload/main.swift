// Entry point: read the settings, then hand over to Server (threads are never made here).
import Foundation
import Glibc
import Proxy

do {
    switch try GivenSettings.parse(arguments: Array(CommandLine.arguments.dropFirst()),
                                   environment: ProcessInfo.processInfo.environment) {
    case .help:
        print(SettingsHelp.text(command: "ccload", abstract: Configuration.abstract), terminator: "")
        Glibc.exit(0)
    case .settings(let given):
        let settings = try Configuration.resolve(given)
        Glibc.exit(Server.run(settings))
    }
} catch {
    // A usage error (the exit status ArgumentParser used to give, EX_USAGE).
    FileHandle.standardError.write(Data("Error: \(error)\nSee 'ccload --help' for the flags and variables.\n".utf8))
    Glibc.exit(64)
}
