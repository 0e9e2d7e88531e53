import Dispatch

/// Repeated timing: one warm-up run (pages in weights, sizes buffers), then the median of
/// `repetitions` timed runs.
struct Measurement {
    let repetitions: Int

    /// Median seconds of `run`, which returns the seconds of the part it wants timed (so that setup
    /// such as prefilling before a decode measurement stays outside the figure).
    func medianSeconds(_ run: () throws -> Double) rethrows -> Double {
        _ = try run()
        var times: [Double] = []
        for _ in 0..<repetitions { times.append(try run()) }
        times.sort()
        let middle = times.count / 2
        return times.count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2
    }

    /// Seconds `body` takes.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now()
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
