import Glibc
import XCTest
@testable import Reactor

/// `Lock`: mutual exclusion for any state, a zero-sized one included. This suite also runs
/// under the thread sanitizer, where a `Lock<Void>` taken by two threads in turn used to be
/// reported as a data race (the sanitizer put the empty state's accesses at the object's own
/// address, which every caller reads unlocked); CI fails on any such report.
final class LockTests: XCTestCase {
    /// Runs `body` on `threads` pthreads at once, `rounds` times each, and waits for them.
    private func hammer(threads: Int = 4, rounds: Int = 2_000, _ body: @escaping @Sendable () -> Void) {
        final class Start: @unchecked Sendable {
            let body: @Sendable () -> Void
            let rounds: Int
            init(_ body: @escaping @Sendable () -> Void, _ rounds: Int) { self.body = body; self.rounds = rounds }
        }
        var ids: [pthread_t] = []
        for _ in 0..<threads {
            var tid = pthread_t()
            let box = Unmanaged.passRetained(Start(body, rounds)).toOpaque()
            let rc = pthread_create(&tid, nil, { arg in
                let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
                for _ in 0..<start.rounds { start.body() }
                return nil
            }, box)
            XCTAssertEqual(rc, 0, "pthread_create")
            if rc == 0 { ids.append(tid) }
        }
        for t in ids { pthread_join(t, nil) }
    }

    func testCountsEveryIncrementFromManyThreads() {
        let counter = Lock<Int>(0)
        hammer { counter.withLock { $0 += 1 } }
        XCTAssertEqual(counter.withLock { $0 }, 4 * 2_000)
    }

    func testZeroSizedStateSerialisesWithoutARace() {
        // What ControlPlane's publishing lock is: a Lock that guards a critical section, not
        // a value. Whether two holders ever overlap is counted outside it.
        let serialised = Lock<Void>(())
        let inside = Lock<(now: Int, most: Int, entries: Int)>((0, 0, 0))
        hammer {
            serialised.withLock { _ in
                inside.withLock { $0.now += 1; $0.most = max($0.most, $0.now); $0.entries += 1 }
                inside.withLock { $0.now -= 1 }
            }
        }
        let seen = inside.withLock { $0 }
        XCTAssertEqual(seen.entries, 4 * 2_000)
        XCTAssertEqual(seen.most, 1, "two threads were inside a Lock<Void> at once")
    }

    func testStateIsReturnedAndThrownThrough() {
        struct Refused: Error {}
        let lock = Lock<[Int]>([])
        XCTAssertEqual(lock.withLock { s -> Int in s.append(3); return s.count }, 1)
        XCTAssertThrowsError(try lock.withLock { s in s.append(4); throw Refused() })
        XCTAssertEqual(lock.withLock { $0 }, [3, 4], "a throwing body keeps what it changed")
        // The lock was released by the throw: taking it again does not deadlock.
        lock.withLock { $0.removeAll() }
        XCTAssertEqual(lock.withLock { $0.count }, 0)
    }
}
