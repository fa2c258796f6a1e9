import CEpoll
import Glibc

/// The key file beside the database (`<database>.key`): the secret key when
/// `CCLOAD_SECRET_KEY` is not given. It holds the key as 64 hex digits and a line break,
/// is created with mode 0600 on the first start of a database that holds no sealed value
/// yet, and is refused when anyone but its owner may read or write it.
enum SecretKeyFile {
    static func path(forDatabase db: String) -> String { db + ".key" }

    /// The key the file holds; nil when there is no file. Throws when the file cannot be
    /// read, is not a regular file, may be read or written by others, or holds no key.
    static func read(_ path: String) throws(StoreError) -> SecretKey? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT { return nil }
            throw StoreError(.secretKey, "cannot read the key file \(path): \(String(cString: strerror(e)))")
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw StoreError(.secretKey, "the key file \(path) is not a regular file")
        }
        let mode = st.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw StoreError(.secretKey, "the key file \(path) may be read or written by others (mode \(octal(mode))); run chmod 600 \(path) and start again")
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        var used = 0
        while used < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError(.secretKey, "cannot read the key file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            used += n
        }
        defer { for i in buffer.indices { buffer[i] = 0 } }
        guard used < buffer.count, let key = SecretKey(text: String(decoding: buffer[0..<used], as: UTF8.self)) else {
            throw StoreError(.secretKey, "the key file \(path) does not hold a key (\(SecretKey.formatText))")
        }
        return key
    }

    /// Writes a new key to `path`, never readable by others even for a moment: a temporary
    /// file opened with `O_CREAT|O_EXCL` and mode 0600, written and synced, then linked to
    /// `path` (which fails when it exists: `link` never replaces). When another process
    /// made `path` first, its key is returned instead.
    static func create(_ path: String) throws(StoreError) -> SecretKey {
        let key = SecretKey.random()
        let temporary = "\(path).\(getpid()).new"
        unlink(temporary)
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw StoreError(.secretKey, "cannot create the key file \(path): \(String(cString: strerror(errno)))")
        }
        var bytes = Array((key.hexText + "\n").utf8)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            written += n
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        Glibc.close(fd)
        if failure != 0 {
            unlink(temporary)
            throw StoreError(.secretKey, "cannot write the key file \(path): \(String(cString: strerror(failure)))")
        }
        let linked = link(temporary, path) == 0
        let linkError = errno
        unlink(temporary)
        if !linked {
            if linkError == EEXIST, let theirs = try read(path) { return theirs }
            throw StoreError(.secretKey, "cannot create the key file \(path): \(String(cString: strerror(linkError)))")
        }
        syncFolder(of: path)
        return key
    }

    /// Makes the new directory entry durable (best effort: a failure here loses nothing yet).
    private static func syncFolder(of path: String) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = Glibc.open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            Glibc.close(fd)
        }
    }

    private static func octal(_ mode: mode_t) -> String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}
