/// Threads the forward pass runs on (its worker pool, the caller included): what observer time summed
/// over workers is divided by to compare it with wall-clock step time.
public enum WorkerThreads {
    public static var count: Int { WorkerPool.shared.threads }
}
