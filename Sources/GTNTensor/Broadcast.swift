/// Numpy broadcasting: shapes are aligned at their last dimension; a dimension of 1 stretches.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// `shape` with every axis of `axes` set to 1: the shape of a reduction over those axes that
/// keeps them (what broadcasts back to `shape`). `op` names the caller in the error.
public func keptShape(_ shape: [Int], reducing axes: [Int], _ op: String) -> [Int] {
    var kept = shape
    for a in axes {
        precondition(a >= 0 && a < kept.count, "\(op): axis \(a) out of range for shape \(shape)")
        kept[a] = 1
    }
    return kept
}

/// Strides that read a tensor of `shape` as if it had the (broadcast) shape `target`: 0 along
/// stretched dimensions.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let offset = target.count - shape.count
    let own = contiguousStrides(shape)
    return (0..<target.count).map { i in
        i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
    }
}

/// A loop nest over `shape` reading/writing several operands with their own strides, with
/// adjacent dimensions merged wherever every operand allows it (so `[N,C,H,W] + [1,C,1,1]` runs as
/// `[N, C, H*W]` with a long innermost loop).
struct StridedLoop {
    var shape: [Int]
    var strides: [[Int]]  // one array per operand

    init(shape: [Int], strides: [[Int]]) {
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = dims.indices.last,
                (0..<strides.count).allSatisfy({ st[$0][last] == strides[$0][d] * shape[d] })
            {
                dims[last] *= shape[d]
                for o in 0..<strides.count { st[o][last] = strides[o][d] }
            } else {
                dims.append(shape[d])
                for o in 0..<strides.count { st[o].append(strides[o][d]) }
            }
        }
        if dims.isEmpty {
            dims = [1]
            st = st.map { _ in [0] }
        }
        self.shape = dims
        self.strides = st
    }

    var count: Int { shape.reduce(1, *) }
    var inner: Int { shape[shape.count - 1] }
    /// Runs of the innermost dimension (0 for an empty tensor).
    var outerCount: Int { inner == 0 ? 0 : count / inner }

    /// Calls `body(offsets)` (one offset per operand) for each run of the innermost dimension,
    /// for outer indices in `rows` (a range of the flattened outer loop).
    ///
    /// The first row's index is unravelled by division; the rest advance it like an odometer.
    /// (Unravelling every row, two or three integer divisions and a walk through the nested
    /// stride arrays, had cost ~14% of the batch norm's broadcast over 196-element rows and ~30%
    /// of its per-channel sums.)
    @inline(__always)
    func forEachRow(_ rows: Range<Int>, _ body: (_ offsets: UnsafeBufferPointer<Int>) -> Void) {
        guard !rows.isEmpty else { return }
        let (outerRank, n) = (shape.count - 1, strides.count)
        // offsets (n), then per outer dimension d: its index, its size, its n strides.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n + outerRank * (n + 2)) { buf in
            let offs = buf.baseAddress!
            let (index, size, step) = (offs + n, offs + n + outerRank, offs + n + 2 * outerRank)
            var rem = rows.lowerBound
            for o in 0..<n { offs[o] = 0 }
            var d = outerRank - 1
            while d >= 0 {
                size[d] = shape[d]
                (index[d], rem) = (rem % size[d], rem / size[d])
                for o in 0..<n {
                    step[d * n + o] = strides[o][d]
                    offs[o] += index[d] * step[d * n + o]
                }
                d -= 1
            }
            let view = UnsafeBufferPointer(start: offs, count: n)
            for _ in rows.dropLast() {
                body(view)
                // The next row: carry through the dimensions that wrap. (A next row exists, so
                // some dimension does not wrap before d falls below 0.)
                var d = outerRank - 1
                while true {
                    index[d] += 1
                    if index[d] < size[d] {
                        for o in 0..<n { offs[o] += step[d * n + o] }
                        break
                    }
                    for o in 0..<n { offs[o] -= (size[d] - 1) * step[d * n + o] }
                    index[d] = 0
                    d -= 1
                }
            }
            body(view)
        }
    }
}

extension Tensor {
    /// A contiguous tensor of `shape` whose element at each index is read from this tensor's
    /// storage through `sourceStrides` (permutations and broadcasts are both such reads).
    @inline(__always)
    func stridedCopy(shape outShape: [Int], sourceStrides: [Int]) -> Tensor {
        let loop = StridedLoop(shape: outShape, strides: [contiguousStrides(outShape), sourceStrides])
        let inner = loop.inner
        let (so, si) = (loop.strides[0].last!, loop.strides[1].last!)
        return Tensor(shape: outShape) { out in
            scalars.withUnsafeBufferPointer { p in
                let out = out
                parallelChunks(loop.outerCount, grain: Swift.max(1, elementwiseGrain / Swift.max(inner, 1))) { rows in
                    loop.forEachRow(rows) { o in
                        let (oo, oi) = (o[0], o[1])
                        for i in 0..<inner { out[oo + i * so] = p[oi + i * si] }
                    }
                }
            }
        }
    }
}
