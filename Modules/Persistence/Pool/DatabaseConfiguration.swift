/// Tuning of a `DatabasePool` (`db.*` configuration keys).
public struct DatabaseConfiguration: Sendable {
    /// Read-only connections in the pool, besides the one writer.
    public var readers = 8
    /// `NORMAL` (default; durable across process crashes, may lose the last commits on power loss) or `FULL`.
    public var synchronous = "NORMAL"
    /// How long a connection waits for another process's lock before failing with `SQLITE_BUSY`.
    public var busyTimeoutMilliseconds = 5000
    /// Frames in the write-ahead log that wake the background checkpointer (`WALCheckpointer`); 0 leaves
    /// checkpoints to SQLite's auto-checkpoint inside the writer's commits. File databases only.
    public var backgroundCheckpointFrames: Int32 = 4000
    /// A `write`/`read` on the thread inside a `write` stops debug builds at an assertion (it is a bug: pass the
    /// transaction). Tests of that refusal turn this off to receive the `PersistenceUsageError` release builds throw.
    public var assertOnNestedTransaction = true

    public init() {}
}
