import Foundation
import GTNTensor
import Synchronization

/// Time spent in each primitive's kernels, keyed by op name and output shape. Every forward and
/// every pullback runs through `Variable.record`, so this sees all tensor work. Off unless the
/// environment sets GTN_PROFILE=1 (then one branch per op is all it costs).
public enum OpProfiler {
    public static let isEnabled = FlopTally.isEnabled  // one switch for both tallies
    static let table = Mutex<[String: (seconds: Double, calls: Int)]>([:])

    static func time<S>(_ op: String, _ compute: () -> Tensor<S>) -> Tensor<S> {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = compute()
        add("\(op) \(value.shape)", seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return value
    }

    /// Times work that is not a primitive's kernel but belongs in the same table (e.g. building
    /// max pooling's index map), under `key`; a plain call when profiling is off.
    static func measure<R>(_ key: @autoclosure () -> String, _ body: () -> R) -> R {
        guard isEnabled else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        add(key(), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return result
    }

    static func add(_ key: String, seconds: Double) {
        table.withLock { t in
            let e = t[key] ?? (0, 0)
            t[key] = (e.seconds + seconds, e.calls + 1)
        }
    }

    /// The `limit` most expensive entries, as printable lines.
    public static func report(limit: Int = 30) -> String {
        let rows = table.withLock { $0 }.sorted { $0.value.seconds > $1.value.seconds }
        let total = rows.reduce(0) { $0 + $1.value.seconds }
        var out = String(format: "op kernels: %.2f s in total\n", total)
        for (k, v) in rows.prefix(limit) {
            out += String(
                format: "%8.3f s %5.1f%% %6d calls  %@\n", v.seconds, 100 * v.seconds / max(total, 1e-9), v.calls, k)
        }
        return out
    }

    public static func reset() { table.withLock { $0.removeAll() } }
}
