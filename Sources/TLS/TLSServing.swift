import Reactor

/// Serving HTTPS: turns each accepted socket into a server-side TLS transport.
public enum TLSServing {
    public static func wrap(_ context: TLSServerContext) -> (consuming FileDescriptor) throws(TransportError) -> any Transport {
        { (fd: consuming FileDescriptor) throws(TransportError) -> any Transport in
            try TLSTransport(fd: fd, context: context)
        }
    }
}
