// ccload-mock: the mock upstream used by the tests and the benchmarks.
import ArgumentParser

struct MockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccload-mock",
        abstract: "Mock Anthropic-style upstream: JSON or SSE answers, delays, failures.")

    @Option(help: "Port (0 picks a free one).") var port: Int = 0
    @Option(help: "Address to listen on.") var listen: String = "127.0.0.1"
    @Option(help: "Reactor threads.") var threads: Int = 1

    func run() throws {
        MockServer.run(listen: listen, port: port, threads: threads)
    }
}

MockCommand.main()
