// Entry point: parse settings, then hand over to Server (threads are never made here).
import ArgumentParser
import Glibc

struct CCLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccload",
        abstract: "One endpoint for Claude Code and Codex traffic: routing, failover, streaming, accounting.")

    @OptionGroup var options: Configuration

    func run() throws {
        let settings = try options.resolve()
        Glibc.exit(Server.run(settings))
    }
}

CCLoad.main()
