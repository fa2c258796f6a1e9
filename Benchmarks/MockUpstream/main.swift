// ccload-mock: the mock upstream used by the tests and the benchmarks.
import ArgumentParser
import TLS

struct MockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccload-mock",
        abstract: "Mock Anthropic-style upstream: JSON or SSE answers, delays, failures.")

    @Option(help: "Port (0 picks a free one).") var port: Int = 0
    @Option(help: "Address to listen on.") var listen: String = "127.0.0.1"
    @Option(help: "Reactor threads.") var threads: Int = 1
    @Option(help: "Serve HTTPS with this certificate chain (PEM).") var tlsCert: String?
    @Option(help: "Private key (PEM) for --tls-cert.") var tlsKey: String?

    func run() throws {
        var tls: TLSServerContext?
        if let c = tlsCert, let k = tlsKey { tls = try TLSServerContext(certFile: c, keyFile: k) }
        MockServer.run(listen: listen, port: port, threads: threads, tls: tls)
    }
}

MockCommand.main()
