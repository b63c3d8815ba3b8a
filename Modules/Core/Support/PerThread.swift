import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One value per thread for one owner (a logger, a metrics registry), without a lock on the hot path: the
/// request path reaches its own thread's shard through `pthread_getspecific` and never contends with
/// other threads. The owner still sees every shard (`all`) to merge or drain them.
///
/// ```swift
/// let counters = PerThread { Shard() }
/// counters.local.value.withLock { $0 += 1 }      // this thread's shard
/// let total = counters.all.reduce(0) { $0 + $1.value.withLock { $0 } }
/// ```
public final class PerThread<Shard: AnyObject & Sendable>: Sendable {
    private let id: Int
    private let make: @Sendable () -> Shard
    private let shards = Mutex<[Shard]>([])

    public init(_ make: @escaping @Sendable () -> Shard) {
        self.id = ThreadSlots.nextOwnerID()
        self.make = make
    }

    /// The calling thread's shard (created and registered on first use).
    public var local: Shard {
        let slots = ThreadSlots.current()
        if let shard = slots.lookup(id) { return unsafeDowncast(shard, to: Shard.self) }
        let shard = make()
        shards.withLock { $0.append(shard) }
        slots.insert(id, shard)
        return shard
    }

    /// Every shard created so far (a thread that exited leaves its shard here, so nothing it counted is lost).
    public var all: [Shard] { shards.withLock { $0 } }
}

/// The per-thread table behind `PerThread`: owner id → shard, found through one pthread key.
final class ThreadSlots {
    private var ids: [Int] = []
    private var objects: [AnyObject] = []

    func lookup(_ id: Int) -> AnyObject? {
        // A thread touches a handful of owners; a linear scan beats hashing.
        var index = 0
        while index < ids.count {
            if ids[index] == id { return objects[index] }
            index += 1
        }
        return nil
    }

    func insert(_ id: Int, _ object: AnyObject) {
        ids.append(id)
        objects.append(object)
    }

    private static let owners = Atomic<Int>(0)
    static func nextOwnerID() -> Int { owners.wrappingAdd(1, ordering: .relaxed).newValue }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<ThreadSlots>.fromOpaque(pointer).release()
        }
        return key
    }()

    static func current() -> ThreadSlots {
        if let pointer = pthread_getspecific(key) { return Unmanaged<ThreadSlots>.fromOpaque(pointer).takeUnretainedValue() }
        let slots = ThreadSlots()
        pthread_setspecific(key, Unmanaged.passRetained(slots).toOpaque())
        return slots
    }
}

/// A fast, non-cryptographic generator (wyrand) for request ids: one per thread, seeded once from the
/// system random source, so no system call per request.
public struct FastRandom: RandomNumberGenerator {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0xA076_1D64_78BD_642F
        let product = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return product.high ^ product.low
    }
}

/// The `FastRandom` of the calling thread.
public final class ThreadRandom: @unchecked Sendable {
    // Only the owning thread touches `generator` (it is reached through `PerThread.local`).
    var generator = FastRandom()
    static let shared = PerThread { ThreadRandom() }

    /// `length` characters of `[a-z0-9]` from the calling thread's generator.
    public static func identifier(length: Int = 16) -> String {
        let box = shared.local
        return String(unsafeUninitializedCapacity: length) { buffer in
            var bits: UInt64 = 0
            var left = 0
            for index in 0..<length {
                if left == 0 { bits = box.generator.next(); left = 10 }
                // 6 bits at a time, rejection-free by reducing 0..<36 from a 64-bit draw's slices (bias is irrelevant for ids).
                buffer[index] = RandomID.alphabet[Int((bits & 0x3F) % 36)]
                bits >>= 6
                left -= 1
            }
            return length
        }
    }
}
