import Foundation
import Glibc

/// A certificate authority and a leaf for localhost/127.0.0.1, made at run time with the
/// `openssl` command in a temp dir (no key is ever committed).
struct TestCertificates: Sendable {
    let dir: String
    var caCert: String { dir + "/ca.crt" }
    var leafCert: String { dir + "/leaf.crt" }
    var leafKey: String { dir + "/leaf.key" }
    /// Signed by the same CA for a name nobody connects to.
    var wrongCert: String { dir + "/wrong.crt" }
    var wrongKey: String { dir + "/wrong.key" }

    static func make() throws -> TestCertificates {
        let dir = NSTemporaryDirectory() + "ccload-e2e-pki-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func openssl(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = args
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw TestFailure("openssl \(args.joined(separator: " ")) failed") }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                     "-subj", "/CN=ccload e2e test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        for (name, san) in [("leaf", "DNS:localhost,IP:127.0.0.1"), ("wrong", "DNS:wrong.example")] {
            try "subjectAltName=\(san)\nextendedKeyUsage=serverAuth\n"
                .write(toFile: dir + "/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["req", "-new"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                         "-set_serial", String(Int.random(in: 1000...1_000_000)), "-days", "2",
                         "-extfile", "\(name).ext", "-out", "\(name).crt"])
        }
        return TestCertificates(dir: dir)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

/// An HTTPS front for the mock: a small Python TLS server (the standard `ssl` module)
/// that terminates TLS and relays bytes both ways to the mock, so every mock behaviour
/// (streams, gates) is served over real TLS.
enum TLSFrontScript {
    static let source = #"""
import select, socket, ssl, sys, threading

cert, key, upstream_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
sys.stderr.write("tls front listening on 127.0.0.1:%d\n" % ls.getsockname()[1])
sys.stderr.flush()

def close(*socks):
    for s in socks:
        try:
            s.close()
        except Exception:
            pass

def serve(raw):
    try:
        t = ctx.wrap_socket(raw, server_side=True)
    except Exception as e:
        sys.stderr.write("handshake failed: %s\n" % e)
        sys.stderr.flush()
        close(raw)
        return
    try:
        u = socket.create_connection(("127.0.0.1", upstream_port))
    except Exception:
        close(t)
        return
    try:
        while True:
            ready = [t] if t.pending() else select.select([t, u], [], [], 30)[0]
            if not ready:
                break
            for s in ready:
                if s is t:
                    try:
                        d = t.recv(65536)
                    except ssl.SSLWantReadError:
                        continue
                    if not d:
                        raise EOFError
                    u.sendall(d)
                else:
                    d = u.recv(65536)
                    if not d:
                        raise EOFError
                    t.sendall(d)
    except Exception:
        pass
    close(t, u)

while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""#

    static func start(certificates: TestCertificates, upstreamPort: Int, wrongName: Bool = false) throws -> ProcessUnderTest {
        let path = certificates.dir + "/tls_front.py"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/bin/env"
        let args = python == "/usr/bin/env" ? ["python3", path] : [path]
        return try ProcessUnderTest(
            executable: python,
            arguments: args + [wrongName ? certificates.wrongCert : certificates.leafCert,
                               wrongName ? certificates.wrongKey : certificates.leafKey, String(upstreamPort)],
            environment: ["PATH": "/root/.pyenv/shims:/usr/local/bin:/usr/bin:/bin"])
    }
}
