import Foundation  // JSONDecoder (to build a RandomSource with a chosen state), exp, tanh
import GTNTensor
import Testing

// Every kernel of the tensor layer, checked against a naive reference written here as plain
// nested loops over `[Double]`. Wherever possible the inputs are small integers, so that both the
// kernel and the reference are exact whatever the summation order, and results are compared for
// equality (in Float as well as Double). Sizes are chosen so that the threaded paths run too:
// gather/scatter kernels split from 65536 elements on, elementwise and broadcast kernels from
// 2 x elementwiseGrain = 524288 (Parallel.swift), reductions from 2 x reductionGrain = 524288
// (ReductionSplitTests checks that a split reduction has the bits of the one-core one).

// MARK: - Naive references and helpers

private func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Multi-index of flat position `flat` in a row-major `shape`.
private func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var idx = [Int](repeating: 0, count: shape.count)
    var rem = flat
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        idx[d] = rem % shape[d]
        rem /= shape[d]
    }
    return idx
}

/// Flat row-major position of a multi-index.
private func flat(_ idx: [Int], _ shape: [Int]) -> Int {
    var f = 0
    for d in 0..<shape.count { f = f * shape[d] + idx[d] }
    return f
}

/// Advances a multi-index over `shape` in row-major order (an odometer).
private func increment(_ idx: inout [Int], _ shape: [Int]) {
    var d = shape.count - 1
    while d >= 0 {
        idx[d] += 1
        if idx[d] < shape[d] { return }
        idx[d] = 0
        d -= 1
    }
}

/// For each flat position of a broadcast result of shape `out`, the flat position of `shape` it
/// reads under numpy rules: shapes align at the last dimension, a size-1 dimension is read at 0.
private func broadcastReads(_ shape: [Int], in out: [Int]) -> [Int] {
    let offset = out.count - shape.count
    var idx = [Int](repeating: 0, count: out.count)
    var reads = [Int](repeating: 0, count: count(out))
    for i in 0..<reads.count {
        var f = 0
        for d in 0..<shape.count { f = f * shape[d] + (shape[d] == 1 ? 0 : idx[d + offset]) }
        reads[i] = f
        increment(&idx, out)
    }
    return reads
}

/// Numpy's broadcast shape, for shapes that are known to be compatible.
private func naiveBroadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    return (0..<r).map { pa[$0] == 1 ? pb[$0] : pa[$0] }
}

private func naiveSum(_ x: [Double], _ shape: [Int], to target: [Int]) -> [Double] {
    let reads = broadcastReads(target, in: shape)
    var out = [Double](repeating: 0, count: count(target))
    for i in 0..<x.count { out[reads[i]] += x[i] }
    return out
}

private func naiveBroadcast(_ x: [Double], _ shape: [Int], to target: [Int]) -> [Double] {
    broadcastReads(shape, in: target).map { x[$0] }
}

private func naiveMax(_ x: [Double], _ shape: [Int], axis: Int) -> [Double] {
    var outShape = shape
    outShape[axis] = 1
    var out = [Double](repeating: -.infinity, count: count(outShape))
    for i in 0..<x.count {
        var idx = unravel(i, shape)
        idx[axis] = 0
        let o = flat(idx, outShape)
        out[o] = max(out[o], x[i])
    }
    return out
}

/// A [m,k] x B [k,n], optionally of the absolute values of the products (a scale for tolerances).
private func naiveMatmul(
    _ a: [Double], _ b: [Double], m: Int, n: Int, k: Int,
    abs useAbs: Bool = false
) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += useAbs ? abs(a[i * k + p] * b[p * n + j]) : a[i * k + p] * b[p * n + j] }
            c[i * n + j] = s
        }
    }
    return c
}

/// The transpose of a rows x cols matrix.
private func naiveTranspose(_ a: [Double], rows: Int, cols: Int) -> [Double] {
    var t = [Double](repeating: 0, count: a.count)
    for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = a[i * cols + j] } }
    return t
}

private func naivePermute(_ x: [Double], _ shape: [Int], _ axes: [Int]) -> [Double] {
    let outShape = axes.map { shape[$0] }
    var out = [Double](repeating: 0, count: x.count)
    var oi = [Int](repeating: 0, count: shape.count)
    var src = oi
    for o in 0..<out.count {
        for d in 0..<axes.count { src[axes[d]] = oi[d] }  // output axis d is input axis axes[d]
        out[o] = x[flat(src, shape)]
        increment(&oi, outShape)
    }
    return out
}

/// Direct convolution: NCHW input, OIHW weight (O x C/groups x kh x kw), zero padding.
/// The one loop nest serves the forward map and both adjoints, via `visit(xIndex, wIndex, yIndex)`.
private func convLoops(_ g: ConvGeometry, _ visit: (Int, Int, Int) -> Void) {
    let (cg, og) = (g.inChannels / g.groups, g.outChannels / g.groups)
    let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            let grp = o / og
            for r in 0..<oh {
                for q in 0..<ow {
                    for c in 0..<cg {
                        for i in 0..<g.kernelH {
                            for j in 0..<g.kernelW {
                                let ih = r * g.stride - g.padding + i
                                let iw = q * g.stride - g.padding + j
                                if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                                let xi = ((n * g.inChannels + grp * cg + c) * h + ih) * w + iw
                                let wi = ((o * cg + c) * g.kernelH + i) * g.kernelW + j
                                let yi = ((n * g.outChannels + o) * oh + r) * ow + q
                                visit(xi, wi, yi)
                            }
                        }
                    }
                }
            }
        }
    }
}

private func naiveConv(_ x: [Double], _ w: [Double], _ g: ConvGeometry) -> [Double] {
    var y = [Double](repeating: 0, count: count(g.outputShape))
    convLoops(g) { xi, wi, yi in y[yi] += x[xi] * w[wi] }
    return y
}

private func naiveConvBackwardInput(_ dy: [Double], _ w: [Double], _ g: ConvGeometry) -> [Double] {
    var dx = [Double](repeating: 0, count: count(g.inputShape))
    convLoops(g) { xi, wi, yi in dx[xi] += dy[yi] * w[wi] }
    return dx
}

private func naiveConvBackwardWeight(_ x: [Double], _ dy: [Double], _ g: ConvGeometry) -> [Double] {
    var dw = [Double](repeating: 0, count: count(g.weightShape))
    convLoops(g) { xi, wi, yi in dw[wi] += dy[yi] * x[xi] }
    return dw
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var s = 0.0
    for i in 0..<a.count { s += a[i] * b[i] }
    return s
}

private func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

/// Conversions to and from the Double references, written per type: in a debug build the generic
/// `Double(x)` / `S(x)` conversions are unspecialised and cost about a microsecond each.
protocol ReferenceScalar: TensorScalar {
    static func fromDoubles(_ x: [Double]) -> [Self]
    static func toDoubles(_ x: [Self]) -> [Double]
    /// A Double rounded to this precision.
    static func rounded(_ x: Double) -> Double
}

extension Double: ReferenceScalar {
    static func fromDoubles(_ x: [Double]) -> [Double] { x }
    static func toDoubles(_ x: [Double]) -> [Double] { x }
    static func rounded(_ x: Double) -> Double { x }
}

extension Float: ReferenceScalar {
    static func fromDoubles(_ x: [Double]) -> [Float] { x.map { Float($0) } }
    static func toDoubles(_ x: [Float]) -> [Double] { x.map { Double($0) } }
    static func rounded(_ x: Double) -> Double { Double(Float(x)) }
}

extension Tensor where S: ReferenceScalar {
    fileprivate var doubles: [Double] { S.toDoubles(scalars) }
}

private func tensor<S: ReferenceScalar>(_ shape: [Int], _ values: [Double]) -> Tensor<S> {
    Tensor(shape: shape, scalars: S.fromDoubles(values))
}

/// Test inputs come from a plain SplitMix64 stream (RandomSource is under test, and its
/// array-backed state is slow in a debug build).
private func splitMix(_ n: Int, seed: UInt64) -> [UInt64] {
    var z = seed
    var out = [UInt64](repeating: 0, count: n)
    for i in 0..<n {
        z &+= 0x9E37_79B9_7F4A_7C15
        var x = z
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        out[i] = x ^ (x >> 31)
    }
    return out
}

/// Small integers in -r...r: every sum and product below stays exact in Float and Double.
private func integers(_ shape: [Int], seed: UInt64, range r: Int = 4) -> [Double] {
    let bits = splitMix(count(shape), seed: seed)
    var out = [Double](repeating: 0, count: bits.count)
    for i in 0..<bits.count { out[i] = Double(Int(bits[i] % UInt64(2 * r + 1)) - r) }
    return out
}

/// Random values in [-2, 2) with full 53-bit significands (mean 0, variance 4/3).
private func randoms(_ shape: [Int], seed: UInt64) -> [Double] {
    let bits = splitMix(count(shape), seed: seed)
    var out = [Double](repeating: 0, count: bits.count)
    for i in 0..<bits.count { out[i] = Double(Int64(bitPattern: bits[i]) >> 10) * 0x1p-52 }
    return out
}

/// Expects `got == want` elementwise, reporting only the first mismatch (arrays can be large).
private func expectExact(
    _ got: [Double], _ want: [Double], _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard got.count == want.count else {
        Issue.record("\(what()): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
        return
    }
    var bad = 0
    var first = -1
    for i in 0..<got.count where !(got[i] == want[i]) {
        if first < 0 { first = i }
        bad += 1
    }
    #expect(
        bad == 0,
        "\(what()): \(bad) of \(got.count) values differ; first at \(first): got \(first < 0 ? 0 : got[first]), expected \(first < 0 ? 0 : want[first])",
        sourceLocation: sourceLocation)
}

/// Expects |got - want| <= tol * scale elementwise.
private func expectClose(
    _ got: [Double], _ want: [Double], scale: [Double], tol: Double,
    _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard got.count == want.count else {
        Issue.record("\(what()): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
        return
    }
    var bad = 0
    var first = -1
    for i in 0..<got.count where !(abs(got[i] - want[i]) <= tol * max(scale[i], 1e-300)) {
        if first < 0 { first = i }
        bad += 1
    }
    #expect(
        bad == 0,
        "\(what()): \(bad) of \(got.count) values off by more than \(tol) x scale; first at \(first): got \(first < 0 ? 0 : got[first]), expected \(first < 0 ? 0 : want[first])",
        sourceLocation: sourceLocation)
}

// MARK: - Broadcasting elementwise arithmetic

struct ShapePair: Sendable, CustomTestStringConvertible {
    let a: [Int], b: [Int]
    init(_ a: [Int], _ b: [Int]) { (self.a, self.b) = (a, b) }
    var testDescription: String { "\(a) and \(b)" }
}

enum ArithmeticOp: CaseIterable {
    case add, subtract, multiply, divide
    func apply<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        }
    }
    func apply(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        }
    }
}

let elementwisePairs: [ShapePair] = [
    ShapePair([2, 3, 4], [3, 1]), ShapePair([3, 1], [2, 3, 4]),
    ShapePair([4], [2, 4]), ShapePair([2, 4], [4]),
    ShapePair([2, 3, 2, 2], [1, 3, 1, 1]), ShapePair([1, 3, 1, 1], [2, 3, 2, 2]),
    ShapePair([], []), ShapePair([], [2, 3]), ShapePair([3, 1], []),
    ShapePair([3, 1], [1, 4]), ShapePair([2, 1, 4], [3, 1]), ShapePair([5, 4], [5, 4]),
    ShapePair([1], [3, 2]), ShapePair([2, 1, 3, 1], [4, 1, 5]),
    // Large enough (>= 65536 elements) for the threaded path.
    ShapePair([4, 130, 128], [130, 1]), ShapePair([260], [260, 260]), ShapePair([67_000], [67_000]),
    ShapePair([2, 3, 100, 120], [1, 3, 1, 1]), ShapePair([4, 130, 128], [4, 1, 128]),
    // Large enough (>= 524288 elements) for the threaded elementwise path: rows split, one
    // contiguous run split, a per-channel broadcast.
    ShapePair([4, 130, 1024], [130, 1]), ShapePair([540_000], [540_000]), ShapePair([8, 3, 150, 150], [1, 3, 1, 1]),
    // Large but one long inner run (not split): a broadcast scalar.
    ShapePair([70_000, 1], [1]), ShapePair([], [260, 260]),
]

/// Float results are compared exactly too: for + - * / the Double result rounded to Float is the
/// correctly rounded Float result (53 >= 2 * 24 + 2), so the Double reference is exact for both.
private func checkArithmetic<S: ReferenceScalar>(_: S.Type, _ pair: ShapePair) {
    let av = randoms(pair.a, seed: 1)
    // Divisors of magnitude in [0.5, 2), either sign, so division is well conditioned.
    let bits = splitMix(count(pair.b), seed: 2)
    var bv = [Double](repeating: 0, count: bits.count)
    for i in 0..<bits.count { bv[i] = (Double(bits[i] >> 11) * 0x1p-53 * 1.5 + 0.5) * (bits[i] & 1 == 0 ? 1 : -1) }
    let (a, b): (Tensor<S>, Tensor<S>) = (tensor(pair.a, av), tensor(pair.b, bv))
    let (ad, bd) = (a.doubles, b.doubles)
    let shape = naiveBroadcastShape(pair.a, pair.b)
    let (ra, rb) = (broadcastReads(pair.a, in: shape), broadcastReads(pair.b, in: shape))
    for op in ArithmeticOp.allCases {
        let got = op.apply(a, b)
        var want = [Double](repeating: 0, count: ra.count)
        for i in 0..<ra.count { want[i] = S.rounded(op.apply(ad[ra[i]], bd[rb[i]])) }
        #expect(got.shape == shape, "\(op) \(pair.a) \(pair.b) \(S.self)")
        expectExact(got.doubles, want, "\(op) \(pair.a) \(pair.b) \(S.self)")
    }
}

@Test(arguments: elementwisePairs)
func broadcastingArithmeticDouble(_ pair: ShapePair) { checkArithmetic(Double.self, pair) }

@Test(arguments: elementwisePairs)
func broadcastingArithmeticFloat(_ pair: ShapePair) { checkArithmetic(Float.self, pair) }

@Test func scalarAndUnaryMaps() {
    let v = randoms([260, 260], seed: 3)  // 67600: threaded map
    let t: Tensor<Double> = tensor([260, 260], v)
    expectExact((t * 2.5).doubles, v.map { $0 * 2.5 }, "tensor * scalar")
    expectExact((t + -1.25).doubles, v.map { $0 - 1.25 }, "tensor + scalar")
    expectExact((-t).doubles, v.map { -$0 }, "negation")
    expectExact(t.leakyRelu(slope: 0.2).doubles, v.map { $0 > 0 ? $0 : $0 * 0.2 }, "leakyRelu")
    let g = randoms([260, 260], seed: 4)
    expectExact(
        (tensor([260, 260], g) as Tensor<Double>).leakyReluGradient(at: t, slope: 0.2).doubles,
        zip(g, v).map { $1 > 0 ? $0 : $0 * 0.2 }, "leakyReluGradient")
    expectExact(t.exp().doubles, v.map { Foundation.exp($0) }, "exp")
    expectExact(t.tanh().doubles, v.map { Foundation.tanh($0) }, "tanh")

    // The same maps, and the fused momentum step, where they split over the workers.
    let big = randoms([740, 740], seed: 5)  // 547600 elements
    let (bt, bg): (Tensor<Double>, Tensor<Double>) = (
        tensor([740, 740], big), tensor([740, 740], randoms([740, 740], seed: 6))
    )
    expectExact((bt * 2.5).doubles, big.map { $0 * 2.5 }, "tensor * scalar, threaded")
    expectExact(bt.leakyRelu(slope: 0.2).doubles, big.map { $0 > 0 ? $0 : $0 * 0.2 }, "leakyRelu, threaded")
    expectExact(
        bg.leakyReluGradient(at: bt, slope: 0.2).doubles,
        zip(bg.doubles, big).map { $1 > 0 ? $0 : $0 * 0.2 }, "leakyReluGradient, threaded")
    expectExact(
        Tensor.multiplyAdd(bt, 0.75, bg).doubles, zip(big, bg.doubles).map { $0 * 0.75 + $1 },
        "multiplyAdd, threaded")
}

// MARK: - sum(toShape:) and broadcast(to:)

let sumCases: [ShapePair] = [
    ShapePair([2, 3, 4], [3, 1]), ShapePair([2, 3, 4], [4]), ShapePair([2, 3, 4], []),
    ShapePair([2, 3, 4], [1]), ShapePair([2, 3, 4], [2, 1, 4]), ShapePair([2, 3, 4], [1, 3, 4]),
    ShapePair([2, 3, 4], [2, 3, 1]), ShapePair([2, 3, 4], [2, 3, 4]), ShapePair([2, 3, 4], [1, 1, 1]),
    ShapePair([2, 3, 2, 2], [1, 3, 1, 1]), ShapePair([2, 3, 2, 2], [3, 1, 1]), ShapePair([5], []),
    ShapePair([], []), ShapePair([1, 1], [1]), ShapePair([1, 5], [5]), ShapePair([3, 1, 4], [1, 4]),
    ShapePair([3, 1, 4], [3, 1, 1]), ShapePair([3, 1, 4], []),
    // Threaded path (>= 524288 elements).
    ShapePair([4, 130, 1024], [130, 1]), ShapePair([4, 130, 1024], [1024]), ShapePair([4, 130, 1024], []),
    ShapePair([4, 130, 1024], [4, 1, 1024]), ShapePair([4, 130, 1024], [4, 130, 1]),
    ShapePair([2, 3, 300, 300], [1, 3, 1, 1]), ShapePair([180_000, 3], [1, 3]), ShapePair([3, 180_000], [3, 1]),
]

@Test(arguments: sumCases)
func sumToShapeExactOnIntegers(_ c: ShapePair) {
    let v = integers(c.a, seed: 4)
    let want = naiveSum(v, c.a, to: c.b)
    let d = (tensor(c.a, v) as Tensor<Double>).sum(toShape: c.b)
    #expect(d.shape == c.b)
    expectExact(d.doubles, want, "sum \(c.a) -> \(c.b) Double")
    let f = (tensor(c.a, v) as Tensor<Float>).sum(toShape: c.b)
    #expect(f.shape == c.b)
    expectExact(f.doubles, want, "sum \(c.a) -> \(c.b) Float")
}

@Test(arguments: sumCases)
func sumToShapeOnRandoms(_ c: ShapePair) {
    let v = randoms(c.a, seed: 5)
    let got = (tensor(c.a, v) as Tensor<Double>).sum(toShape: c.b)
    expectClose(
        got.doubles, naiveSum(v, c.a, to: c.b), scale: naiveSum(v.map { abs($0) }, c.a, to: c.b), tol: 1e-13,
        "sum \(c.a) -> \(c.b)")
}

@Test func sumOfAll() {
    let v = integers([7, 11, 13], seed: 6)
    let s = (tensor([7, 11, 13], v) as Tensor<Double>).sum()
    #expect(s.shape == [])
    #expect(s.scalar == v.reduce(0, +))
}

@Test(arguments: [
    ShapePair([3, 1], [2, 3, 4]), ShapePair([4], [2, 4]), ShapePair([], [2, 3]), ShapePair([1], [5]),
    ShapePair([1, 3, 1, 1], [2, 3, 2, 2]), ShapePair([2, 1, 4], [2, 3, 4]), ShapePair([2, 3], [2, 3]),
    ShapePair([1, 1], [4, 1, 3]),
    ShapePair([130, 1], [4, 130, 128]), ShapePair([260], [260, 260]), ShapePair([], [260, 260]),
    ShapePair([4, 1, 128], [4, 130, 128]),
])
func broadcastTo(_ c: ShapePair) {
    let v = randoms(c.a, seed: 7)
    let got = (tensor(c.a, v) as Tensor<Double>).broadcast(to: c.b)
    #expect(got.shape == c.b)
    expectExact(got.doubles, naiveBroadcast(v, c.a, to: c.b), "broadcast \(c.a) -> \(c.b)")
    // broadcast and sum(toShape:) are adjoint: <broadcast(x), y> == <x, sum(y)>.
    let y = randoms(c.b, seed: 8)
    let lhs = dot(got.doubles, y)
    let rhs = dot(v, (tensor(c.b, y) as Tensor<Double>).sum(toShape: c.a).doubles)
    #expect(abs(lhs - rhs) <= 1e-12 * norm(got.doubles) * norm(y), "adjoint \(c.a) -> \(c.b): \(lhs) vs \(rhs)")
}

/// Tensors with a dimension of size 0. Each case runs in a child process (an exit test), because
/// a failure here is a trap that would otherwise take the whole test run down.
@Test func zeroSizedTensors() async {
    // These work:
    await #expect(processExitsWith: .success) {
        let s = Tensor<Double>.zeros([0, 3]).sum(toShape: [3])
        precondition(s == .zeros([3]), "sum of [0,3] to [3]: \(s)")
        let m = Tensor<Double>.matmul(.zeros([0, 3]), .ones([3, 4]))
        precondition(m.shape == [0, 4], "matmul [0,3] x [3,4]: \(m.shape)")
        let z = Tensor<Double>.matmul(.ones([2, 0]), .ones([0, 4]))
        precondition(z == .zeros([2, 4]), "matmul [2,0] x [0,4]: \(z)")
    }
    // Regression: StridedLoop.outerCount once divided by a zero-length innermost run and trapped.
    await #expect(processExitsWith: .success, "[0] + [] traps") {
        let c = Tensor<Double>.zeros([0]) + Tensor<Double>(1)
        precondition(c.shape == [0])
    }
    await #expect(processExitsWith: .success, "[3,0] + [1,0] traps") {
        let c = Tensor<Double>.zeros([3, 0]) + Tensor<Double>.zeros([1, 0])
        precondition(c.shape == [3, 0])
    }
    await #expect(processExitsWith: .success, "sum(toShape:) of [3,0] to [0] traps") {
        let s = Tensor<Double>.zeros([3, 0]).sum(toShape: [0])
        precondition(s.shape == [0])
    }
    await #expect(processExitsWith: .success, "permuted of [2,0,3] traps") {
        let p = Tensor<Double>.zeros([2, 0, 3]).permuted([2, 0, 1])
        precondition(p.shape == [3, 2, 0])
    }
}

// MARK: - max(alongAxis:), argmaxRows

@Test(arguments: [0, 1, 2])
func maxAlongAxis(_ axis: Int) {
    let shape = [3, 4, 5]
    for shift in [0.0, -10.0] {  // all-negative values catch a maximum that starts from 0
        let v = randoms(shape, seed: 9 + UInt64(axis)).map { $0 + shift }
        var outShape = shape
        outShape[axis] = 1
        let d = (tensor(shape, v) as Tensor<Double>).max(alongAxis: axis)
        #expect(d.shape == outShape)
        expectExact(d.doubles, naiveMax(v, shape, axis: axis), "max axis \(axis) shift \(shift)")
        let f = (tensor(shape, v) as Tensor<Float>).max(alongAxis: axis)
        expectExact(f.doubles, naiveMax(v.map { Double(Float($0)) }, shape, axis: axis), "Float max axis \(axis)")
    }
}

@Test func maxAlongAxisOtherRanks() {
    let cases: [([Int], Int)] = [([7], 0), ([2, 1, 3], 1), ([2, 3, 4, 5], 3), ([2, 3, 4, 5], 0), ([6, 1], 0)]
    for (shape, axis) in cases {
        let v = randoms(shape, seed: 10).map { $0 - 5 }
        let got = (tensor(shape, v) as Tensor<Double>).max(alongAxis: axis)
        expectExact(got.doubles, naiveMax(v, shape, axis: axis), "max \(shape) axis \(axis)")
    }
}

@Test func argmaxRows() {
    let (rows, cols) = (9, 7)
    let v = randoms([rows, cols], seed: 11).map { $0 - 10 }
    let want = (0..<rows).map { r in (0..<cols).max { v[r * cols + $0] < v[r * cols + $1] }! }
    #expect((tensor([rows, cols], v) as Tensor<Double>).argmaxRows() == want)
    #expect((tensor([rows, cols], v) as Tensor<Float>).argmaxRows() == want)
    // Known answers: maximum first, last, in the middle; ties go to the first; single column.
    let t: Tensor<Double> = tensor([4, 3], [5, 1, 2, -3, -2, -1, 0, 7, 7, -4, -4, -4])
    #expect(t.argmaxRows() == [0, 2, 1, 0])
    #expect((tensor([3, 1], [1, 2, 3]) as Tensor<Double>).argmaxRows() == [0, 0, 0])
}

// MARK: - matmul

struct MatmulCase: Sendable, CustomTestStringConvertible {
    let m: Int, n: Int, k: Int
    var testDescription: String { "\(m)x\(k) * \(k)x\(n)" }
}

let matmulCases: [MatmulCase] = [
    MatmulCase(m: 3, n: 4, k: 5), MatmulCase(m: 1, n: 1, k: 1), MatmulCase(m: 2, n: 7, k: 3),
    MatmulCase(m: 5, n: 1, k: 4), MatmulCase(m: 1, n: 6, k: 9), MatmulCase(m: 4, n: 3, k: 0),
    // m * n * k >= 2^18: split over the workers, along m (m >= n) or along n (m < n).
    MatmulCase(m: 90, n: 70, k: 80), MatmulCase(m: 70, n: 90, k: 80), MatmulCase(m: 70, n: 80, k: 90),
    MatmulCase(m: 80, n: 80, k: 41), MatmulCase(m: 91, n: 3, k: 1000), MatmulCase(m: 3, n: 91, k: 1000),
    MatmulCase(m: 129, n: 64, k: 33), MatmulCase(m: 64, n: 129, k: 33),
]

/// Checks op(A) x op(B) for all four transpose flags, where the stored operand is the logical
/// A [m,k] (B [k,n]) or its transpose.
@Test(arguments: matmulCases)
func matmulAllTransposes(_ c: MatmulCase) {
    let (m, n, k) = (c.m, c.n, c.k)
    let (ai, bi) = (integers([m, k], seed: 12), integers([k, n], seed: 13))
    let (an, bn) = (randoms([m, k], seed: 14), randoms([k, n], seed: 15))
    let wantI = naiveMatmul(ai, bi, m: m, n: n, k: k)
    let wantN = naiveMatmul(an, bn, m: m, n: n, k: k)
    let scale = naiveMatmul(an, bn, m: m, n: n, k: k, abs: true)
    func storedA(_ v: [Double], _ t: Bool) -> ([Int], [Double]) {
        t ? ([k, m], naiveTranspose(v, rows: m, cols: k)) : ([m, k], v)
    }
    func storedB(_ v: [Double], _ t: Bool) -> ([Int], [Double]) {
        t ? ([n, k], naiveTranspose(v, rows: k, cols: n)) : ([k, n], v)
    }
    for ta in [false, true] {
        for tb in [false, true] {
            let what = "\(c.testDescription) transposeA \(ta) transposeB \(tb)"
            // Small integers: exact in both precisions whatever the summation order.
            let (sa, va) = storedA(ai, ta)
            let (sb, vb) = storedB(bi, tb)
            let d = Tensor<Double>.matmul(tensor(sa, va), tensor(sb, vb), transposeA: ta, transposeB: tb)
            #expect(d.shape == [m, n], "\(what)")
            expectExact(d.doubles, wantI, "Double integers \(what)")
            let f = Tensor<Float>.matmul(tensor(sa, va), tensor(sb, vb), transposeA: ta, transposeB: tb)
            #expect(f.shape == [m, n], "\(what)")
            expectExact(f.doubles, wantI, "Float integers \(what)")
            // Random reals: relative to sum |a_ip b_pj|.
            let (sa2, va2) = storedA(an, ta)
            let (sb2, vb2) = storedB(bn, tb)
            let dn = Tensor<Double>.matmul(tensor(sa2, va2), tensor(sb2, vb2), transposeA: ta, transposeB: tb)
            expectClose(dn.doubles, wantN, scale: scale, tol: 1e-13, "Double randoms \(what)")
            let fn = Tensor<Float>.matmul(tensor(sa2, va2), tensor(sb2, vb2), transposeA: ta, transposeB: tb)
            expectClose(fn.doubles, wantN, scale: scale, tol: 1e-5, "Float randoms \(what)")
        }
    }
}

// MARK: - permuted

@Test(arguments: [[2, 0, 3, 1], [3, 1, 0, 2], [0, 1, 2, 3], [0, 1, 3, 2], [1, 0, 2, 3], [3, 2, 1, 0]])
func permutedRank4(_ axes: [Int]) {
    let shapes: [[Int]] = [[2, 3, 4, 5], [1, 3, 1, 4], [10, 20, 30, 12]]  // the last one is threaded
    for shape in shapes {
        let v = randoms(shape, seed: 16)
        let got = (tensor(shape, v) as Tensor<Double>).permuted(axes)
        #expect(got.shape == axes.map { shape[$0] })
        expectExact(got.doubles, naivePermute(v, shape, axes), "permute \(shape) by \(axes)")
    }
}

@Test func permutedOtherRanks() {
    let cases: [([Int], [Int])] = [
        ([3, 4], [1, 0]), ([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [1, 2, 0]), ([5], [0]),
        ([2, 1, 3, 2, 2], [4, 2, 0, 3, 1]),
    ]
    for (shape, axes) in cases {
        let v = randoms(shape, seed: 17)
        let got = (tensor(shape, v) as Tensor<Double>).permuted(axes)
        expectExact(got.doubles, naivePermute(v, shape, axes), "permute \(shape) by \(axes)")
    }
}

// MARK: - Convolution

struct ConvCase: Sendable, CustomTestStringConvertible {
    let name: String
    let x: [Int], w: [Int]
    let stride: Int, padding: Int, groups: Int
    var testDescription: String { "\(name): x \(x) w \(w) stride \(stride) pad \(padding) groups \(groups)" }
    var geometry: ConvGeometry { ConvGeometry(input: x, weight: w, stride: stride, padding: padding, groups: groups) }
}

let convCases: [ConvCase] = [
    ConvCase(name: "3x3 pad 1", x: [3, 4, 6, 6], w: [5, 4, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "3x3 stride 2 pad 1", x: [3, 4, 7, 7], w: [6, 4, 3, 3], stride: 2, padding: 1, groups: 1),
    ConvCase(name: "3x3 stride 2 pad 1 even", x: [3, 2, 8, 6], w: [3, 2, 3, 3], stride: 2, padding: 1, groups: 1),
    ConvCase(name: "3x3 no pad", x: [3, 3, 6, 5], w: [4, 3, 3, 3], stride: 1, padding: 0, groups: 1),
    ConvCase(name: "1x1", x: [3, 4, 5, 5], w: [6, 4, 1, 1], stride: 1, padding: 0, groups: 1),
    ConvCase(name: "1x1 stride 2", x: [3, 4, 5, 6], w: [6, 4, 1, 1], stride: 2, padding: 0, groups: 1),
    ConvCase(name: "1x1 pad 1", x: [3, 2, 3, 4], w: [3, 2, 1, 1], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "grouped 2", x: [3, 4, 6, 6], w: [6, 2, 3, 3], stride: 1, padding: 1, groups: 2),
    ConvCase(name: "grouped 2 stride 2", x: [3, 4, 7, 5], w: [4, 2, 3, 3], stride: 2, padding: 1, groups: 2),
    ConvCase(name: "grouped 1x1", x: [3, 4, 5, 5], w: [6, 2, 1, 1], stride: 1, padding: 0, groups: 2),
    ConvCase(name: "depthwise", x: [3, 4, 6, 6], w: [4, 1, 3, 3], stride: 1, padding: 1, groups: 4),
    ConvCase(name: "depthwise stride 2", x: [3, 5, 7, 6], w: [5, 1, 3, 3], stride: 2, padding: 1, groups: 5),
    ConvCase(name: "depthwise x2", x: [3, 4, 5, 5], w: [8, 1, 3, 3], stride: 1, padding: 1, groups: 4),
    ConvCase(name: "odd 5x7", x: [3, 3, 5, 7], w: [4, 3, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "odd 5x7 stride 2", x: [3, 3, 5, 7], w: [4, 3, 3, 3], stride: 2, padding: 1, groups: 1),
    ConvCase(name: "3x5 kernel", x: [3, 2, 5, 7], w: [3, 2, 3, 5], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "5x5 stride 2 pad 2", x: [4, 2, 9, 8], w: [3, 2, 5, 5], stride: 2, padding: 2, groups: 1),
    ConvCase(name: "pad 2 with 3x3", x: [3, 2, 4, 5], w: [3, 2, 3, 3], stride: 1, padding: 2, groups: 1),
    ConvCase(name: "pad 2 with 3x3 stride 3", x: [3, 2, 4, 5], w: [3, 2, 3, 3], stride: 3, padding: 2, groups: 1),
    ConvCase(name: "kernel = padded input", x: [3, 2, 2, 3], w: [2, 2, 4, 5], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "batch 1", x: [1, 3, 6, 6], w: [4, 3, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "batch 5", x: [5, 2, 4, 4], w: [3, 2, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "batch 7 1x1", x: [7, 2, 3, 3], w: [3, 2, 1, 1], stride: 1, padding: 0, groups: 1),
    // Narrowing stride-1 layers take the input adjoint as a convolution with the flipped kernel.
    ConvCase(name: "narrowing 3x3 pad 1", x: [3, 5, 6, 6], w: [2, 5, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "narrowing 3x3 no pad", x: [3, 4, 6, 5], w: [1, 4, 3, 3], stride: 1, padding: 0, groups: 1),
    ConvCase(name: "narrowing 5x5 pad 2", x: [2, 3, 7, 6], w: [2, 3, 5, 5], stride: 1, padding: 2, groups: 1),
    ConvCase(name: "narrowing 1x1", x: [3, 4, 5, 5], w: [2, 4, 1, 1], stride: 1, padding: 0, groups: 1),
    ConvCase(
        name: "narrowing 1x1 pad 1 (col2im)", x: [3, 4, 3, 4], w: [2, 4, 1, 1], stride: 1, padding: 1, groups: 1),
    ConvCase(
        name: "narrowing 3x5 kernel (col2im)", x: [3, 3, 5, 7], w: [2, 3, 3, 5], stride: 1, padding: 1, groups: 1),
    // Winograd runs automatically from 16 channels on (F(4x4) where it needs fewer products than
    // F(2x2)): odd and even sizes, pad 0/1/2, partial groups of 8 samples, and batches of several
    // chunks split over the workers.
    ConvCase(name: "winograd 16->16 pad 1", x: [2, 16, 6, 6], w: [16, 16, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(
        name: "winograd 16->24 pad 1 odd", x: [3, 16, 5, 7], w: [24, 16, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(
        name: "winograd 24->16 pad 0 odd", x: [2, 24, 7, 6], w: [16, 24, 3, 3], stride: 1, padding: 0, groups: 1),
    ConvCase(name: "winograd 16->16 pad 2", x: [2, 16, 4, 5], w: [16, 16, 3, 3], stride: 1, padding: 2, groups: 1),
    // Rows of 8 or more pixels and full groups of 8 samples take the 8 x 8 register transposes
    // into and out of the lane-interleaved layout (a last block overlapping at width 10 and 11,
    // whole blocks at 16), the partial ninth sample the scalar copy.
    ConvCase(
        name: "winograd 16->16 pad 1 wide, 9 samples", x: [9, 16, 10, 11], w: [16, 16, 3, 3], stride: 1, padding: 1,
        groups: 1),
    ConvCase(
        name: "winograd 16->24 pad 0 width 18, 8 samples", x: [8, 16, 6, 18], w: [24, 16, 3, 3], stride: 1,
        padding: 0, groups: 1),
    ConvCase(name: "winograd many chunks", x: [150, 2, 6, 6], w: [3, 2, 3, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(name: "winograd 1x1 output", x: [4, 3, 3, 3], w: [2, 3, 3, 3], stride: 1, padding: 0, groups: 1),
    // Direct loops run automatically for 1-4 output channels (the generator's 64->1 layer).
    ConvCase(name: "direct 8->1 pad 0", x: [3, 8, 7, 6], w: [1, 8, 3, 3], stride: 1, padding: 0, groups: 1),
    ConvCase(
        name: "direct 5->2 pad 1 5x3 kernel", x: [3, 5, 6, 7], w: [2, 5, 5, 3], stride: 1, padding: 1, groups: 1),
    ConvCase(
        name: "direct 4->3 pad 3 (wider than the kernel)", x: [2, 4, 3, 4], w: [3, 4, 3, 3], stride: 1, padding: 3,
        groups: 1),
]

@Test(arguments: convCases)
func convolutionExactOnIntegers(_ c: ConvCase) {
    let g = c.geometry
    let (xv, wv, dyv) = (
        integers(c.x, seed: 18, range: 3), integers(c.w, seed: 19, range: 3),
        integers(g.outputShape, seed: 20, range: 3)
    )
    let (y, dx, dw) = (naiveConv(xv, wv, g), naiveConvBackwardInput(dyv, wv, g), naiveConvBackwardWeight(xv, dyv, g))
    // Winograd F(2x2)'s transforms only add, subtract and halve, so on small integers it is exact
    // too. F(4x4)'s divide by 6 and 24: within a few roundings of the largest value.
    func run<S: ReferenceScalar>(_: S.Type, _ algorithm: ConvAlgorithm) {
        let name = "\(S.self) \(algorithm)"
        // F(4x4) may run for the layer itself or for its input adjoint (the flipped convolution).
        let rounds = ([g] + (g.transposedForInputAdjoint.map { [$0] } ?? [])).contains {
            algorithm.resolved(for: $0) == .winograd4
        }
        func check(_ got: [Double], _ want: [Double], _ what: String) {
            guard rounds else { return expectExact(got, want, what) }
            let scale = want.reduce(0) { max($0, abs($1)) }
            let tol = S.self == Double.self ? 1e-12 : 1e-5
            let worst = zip(got, want).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(got.count == want.count && worst <= tol * max(scale, 1), "\(what): off by \(worst) of \(scale)")
        }
        let fwd = Convolution.forward(tensor(c.x, xv) as Tensor<S>, tensor(c.w, wv), g, algorithm: algorithm)
        #expect(fwd.shape == g.outputShape)
        check(fwd.doubles, y, "forward \(name)")
        let bi = Convolution.backwardInput(
            tensor(g.outputShape, dyv) as Tensor<S>, tensor(c.w, wv), g, algorithm: algorithm)
        #expect(bi.shape == c.x)
        check(bi.doubles, dx, "backwardInput \(name)")
        let bw = Convolution.backwardWeight(
            tensor(c.x, xv) as Tensor<S>, tensor(g.outputShape, dyv), g, algorithm: algorithm)
        #expect(bw.shape == c.w)
        check(bw.doubles, dw, "backwardWeight \(name)")
    }
    for algorithm in ConvAlgorithm.allCases where algorithm.supports(g) {
        run(Double.self, algorithm)
        run(Float.self, algorithm)
    }
}

@Test(arguments: convCases)
func convolutionOnRandomsAndAdjointIdentity(_ c: ConvCase) {
    let g = c.geometry
    let (xv, wv, dyv) = (randoms(c.x, seed: 21), randoms(c.w, seed: 22), randoms(g.outputShape, seed: 23))
    let (x, w, dy): (Tensor<Double>, Tensor<Double>, Tensor<Double>) =
        (tensor(c.x, xv), tensor(c.w, wv), tensor(g.outputShape, dyv))
    let y = Convolution.forward(x, w, g).doubles
    var scale = [Double](repeating: 0, count: y.count)
    convLoops(g) { xi, wi, yi in scale[yi] += abs(xv[xi] * wv[wi]) }
    expectClose(y, naiveConv(xv, wv, g), scale: scale, tol: 1e-13, "forward")

    // <dy, conv(x, w)> = <backwardInput(dy, w), x> = <backwardWeight(x, dy), w>
    let dx = Convolution.backwardInput(dy, w, g).doubles
    let dw = Convolution.backwardWeight(x, dy, g).doubles
    let (a, b, d) = (dot(dyv, y), dot(dx, xv), dot(dw, wv))
    #expect(abs(a - b) <= 1e-10 * norm(dyv) * norm(y), "<dy, conv(x,w)> = \(a), <backwardInput, x> = \(b)")
    #expect(abs(a - d) <= 1e-10 * norm(dyv) * norm(y), "<dy, conv(x,w)> = \(a), <backwardWeight, w> = \(d)")
    #expect(abs(a - b) <= 1e-10 * abs(a) && abs(a - d) <= 1e-10 * abs(a), "relative: \(a) \(b) \(d)")
}

/// The Float32 accuracy of Winograd at the learner's and generator's real shapes, against im2col:
/// its transforms add up to 4 (inputs) and 9/4 (weights) terms before the products, so rounding
/// grows by a small factor, not with the size.
@Test func winogradFloatAccuracyAtRealShapes() {
    let cases: [([Int], [Int], Int)] = [
        ([8, 64, 14, 14], [128, 64, 3, 3], 1), ([8, 128, 16, 16], [64, 128, 3, 3], 0),
    ]
    for (xs, ws, pad) in cases {
        let g = ConvGeometry(input: xs, weight: ws, stride: 1, padding: pad, groups: 1)
        var rng = RandomSource(seed: 31)
        let x = Tensor<Float>.randomNormal(xs, using: &rng)
        let w = Tensor<Float>.randomNormal(ws, std: 0.05, using: &rng)
        let dy = Tensor<Float>.randomNormal(g.outputShape, using: &rng)
        func relative(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Float {
            let scale = b.scalars.reduce(Float(0)) { max($0, abs($1)) }
            return a.maxAbsDifference(b) / scale
        }
        // F(4x4)'s transforms have larger coefficients (up to 8 in Aᵀ, 5 in Bᵀ), so it rounds
        // more. Measured (printed): F(2x2) 5-7e-7, F(4x4) 5-9e-6 of the largest entry.
        for (algorithm, bound) in [(ConvAlgorithm.winograd, Float(2e-5)), (.winograd4, Float(3e-5))] {
            let pairs: [(String, Tensor<Float>, Tensor<Float>)] = [
                (
                    "forward", Convolution.forward(x, w, g, algorithm: algorithm),
                    Convolution.forward(x, w, g, algorithm: .im2col)
                ),
                (
                    "backwardInput", Convolution.backwardInput(dy, w, g, algorithm: algorithm),
                    Convolution.backwardInput(dy, w, g, algorithm: .im2col)
                ),
                (
                    "backwardWeight", Convolution.backwardWeight(x, dy, g, algorithm: algorithm),
                    Convolution.backwardWeight(x, dy, g, algorithm: .im2col)
                ),
            ]
            for (name, a, b) in pairs {
                print("winograd accuracy: \(algorithm) \(name) \(xs) -> \(ws): \(relative(a, b)) of the largest entry")
                #expect(
                    relative(a, b) < bound,
                    "\(algorithm) \(name) \(xs) -> \(ws): max difference \(relative(a, b)) of the largest entry")
            }
        }
    }
}

@Test func convGeometryShapes() {
    let g = ConvGeometry(input: [3, 4, 7, 5], weight: [6, 2, 3, 3], stride: 2, padding: 1, groups: 2)
    #expect(g.outHeight == 4 && g.outWidth == 3)
    #expect(g.outputShape == [3, 6, 4, 3])
    #expect(g.weightShape == [6, 2, 3, 3])
    #expect(g.inputShape == [3, 4, 7, 5])
    let flops: Double = 2 * 3 * 6 * 12 * 18  // 2 * batch * out * positions * patch
    #expect(g.flops == flops)
}

// MARK: - GatherMap

private func plane4(_ values: [Double], _ h: Int, _ w: Int) -> Tensor<Double> { tensor([1, 1, h, w], values) }

@Test func upsampleNearestValues() {
    // Known answer.
    let t = plane4([1, 2, 3, 4], 2, 2).gathered(.upsampleNearest([1, 1, 2, 2], factor: 2))
    #expect(t.shape == [1, 1, 4, 4])
    #expect(t.doubles == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    // Against the definition, small and threaded (67584 outputs); also factor 3.
    let cases: [([Int], Int)] = [([2, 3, 2, 3], 2), ([1, 4, 64, 66], 2), ([1, 2, 3, 2], 3)]
    for (shape, f) in cases {
        let v = randoms(shape, seed: 24)
        let out = [shape[0], shape[1], shape[2] * f, shape[3] * f]
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        var want: [Double] = []
        for p in 0..<planes {
            for r in 0..<(h * f) { for c in 0..<(w * f) { want.append(v[(p * h + r / f) * w + c / f]) } }
        }
        let got = (tensor(shape, v) as Tensor<Double>).gathered(.upsampleNearest(shape, factor: f))
        #expect(got.shape == out)
        expectExact(got.doubles, want, "upsample \(shape) x\(f)")
        // Adjoint: the sum over each f x f block.
        let y = randoms(out, seed: 25)
        var back = [Double](repeating: 0, count: v.count)
        var o = 0
        for p in 0..<planes {
            for r in 0..<(h * f) {
                for c in 0..<(w * f) {
                    back[(p * h + r / f) * w + c / f] += y[o]
                    o += 1
                }
            }
        }
        let gotBack = (tensor(out, y) as Tensor<Double>).scatteredAdd(.upsampleNearest(shape, factor: f))
        expectClose(
            gotBack.doubles, back, scale: [Double](repeating: Double(f * f) * 10, count: back.count),
            tol: 1e-14, "upsample adjoint \(shape) x\(f)")
    }
}

@Test func composedGatherEqualsTwoGathers() {
    for shape in [[2, 3, 4, 5], [1, 2, 7, 7]] {
        let v = randoms(shape, seed: 34)
        let x: Tensor<Double> = tensor(shape, v)
        let up = GatherMap.upsampleNearest(shape, factor: 2)
        let twice = x.gathered(up).gathered(.reflectionPad(up.outputShape, pad: 1))
        let once = GatherMap.upsampleNearestReflectionPad(shape, factor: 2, pad: 1)
        expectExact(x.gathered(once).doubles, twice.doubles, "upsample + reflection pad \(shape)")
        let y: Tensor<Double> = tensor(once.outputShape, randoms(once.outputShape, seed: 35))
        let back = y.scatteredAdd(.reflectionPad(up.outputShape, pad: 1)).scatteredAdd(up)
        expectClose(
            y.scatteredAdd(once).doubles, back.doubles, scale: [Double](repeating: 100, count: back.count),
            tol: 1e-14, "adjoint \(shape)")
        // The composed map keeps its per-plane pattern, and the kernels reading it agree
        // exactly with the ones reading the absolute indices.
        #expect(once.planePattern != nil, "upsample + reflection pad \(shape) lost its plane pattern")
        let absolute = GatherMap(
            sourceShape: once.sourceShape, outputShape: once.outputShape, indices: once.indices,
            independentPlanes: once.independentPlanes)
        expectExact(x.gathered(once).doubles, x.gathered(absolute).doubles, "pattern vs indices \(shape)")
        expectExact(y.scatteredAdd(once).doubles, y.scatteredAdd(absolute).doubles, "pattern vs indices adjoint")
        // Zero padding composes too: -1 stays -1.
        let z = up.then(.zeroPad(up.outputShape, pad: 2))
        expectExact(
            x.gathered(z).doubles, x.gathered(up).gathered(.zeroPad(up.outputShape, pad: 2)).doubles,
            "upsample + zero pad")
    }
}

@Test func zeroPadValues() {
    let t = plane4([1, 2, 3, 4, 5, 6], 2, 3).gathered(.zeroPad([1, 1, 2, 3], pad: 1))
    #expect(t.shape == [1, 1, 4, 5])
    #expect(
        t.doubles == [
            0, 0, 0, 0, 0,
            0, 1, 2, 3, 0,
            0, 4, 5, 6, 0,
            0, 0, 0, 0, 0,
        ])
    let cases: [([Int], Int)] = [([2, 3, 4, 5], 1), ([1, 2, 3, 3], 2), ([2, 2, 1, 1], 3), ([2, 3, 4, 5], 0)]
    for (shape, p) in cases {
        let v = randoms(shape, seed: 26)
        let (h, w) = (shape[2], shape[3])
        let out = [shape[0], shape[1], h + 2 * p, w + 2 * p]
        let want = (0..<count(out)).map { o -> Double in
            let i = unravel(o, out)
            let (r, c) = (i[2] - p, i[3] - p)
            return r < 0 || r >= h || c < 0 || c >= w ? 0 : v[flat([i[0], i[1], r, c], shape)]
        }
        let got = (tensor(shape, v) as Tensor<Double>).gathered(.zeroPad(shape, pad: p))
        #expect(got.shape == out)
        expectExact(got.doubles, want, "zeroPad \(shape) pad \(p)")
        // Adjoint: cropping.
        let y = randoms(out, seed: 27)
        let crop = (0..<v.count).map { s -> Double in
            let i = unravel(s, shape)
            return y[flat([i[0], i[1], i[2] + p, i[3] + p], out)]
        }
        expectExact(
            (tensor(out, y) as Tensor<Double>).scatteredAdd(.zeroPad(shape, pad: p)).doubles, crop,
            "zeroPad adjoint \(shape) pad \(p)")
    }
}

@Test func reflectionPadMatchesPyTorch() {
    // torch.nn.ReflectionPad2d(1) of the row [a, b, c, d] gives [b, a, b, c, d, c].
    // (Pad 1 needs at least 2 rows, so the row [a, b, c, d] = [10, 20, 30, 40] sits in a 2-row plane.)
    let two = plane4([10, 20, 30, 40, 50, 60, 70, 80], 2, 4).gathered(.reflectionPad([1, 1, 2, 4], pad: 1))
    #expect(two.shape == [1, 1, 4, 6])
    #expect(
        two.doubles == [
            60, 50, 60, 70, 80, 70,
            20, 10, 20, 30, 40, 30,
            60, 50, 60, 70, 80, 70,
            20, 10, 20, 30, 40, 30,
        ])
    // torch.nn.ReflectionPad2d(1)(torch.arange(1., 10.).view(1, 1, 3, 3))
    let t3 = plane4([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3).gathered(.reflectionPad([1, 1, 3, 3], pad: 1))
    #expect(
        t3.doubles == [
            5, 4, 5, 6, 5,
            2, 1, 2, 3, 2,
            5, 4, 5, 6, 5,
            8, 7, 8, 9, 8,
            5, 4, 5, 6, 5,
        ])
    // torch.nn.ReflectionPad2d(2) of a 3x4 plane 1...12: output rows read input rows 2,1,0,1,2,1,0
    // and output columns read input columns 2,1,0,1,2,3,2,1.
    let t4 = plane4((1...12).map(Double.init), 3, 4).gathered(.reflectionPad([1, 1, 3, 4], pad: 2))
    #expect(t4.shape == [1, 1, 7, 8])
    #expect(
        t4.doubles == [
            11, 10, 9, 10, 11, 12, 11, 10,
            7, 6, 5, 6, 7, 8, 7, 6,
            3, 2, 1, 2, 3, 4, 3, 2,
            7, 6, 5, 6, 7, 8, 7, 6,
            11, 10, 9, 10, 11, 12, 11, 10,
            7, 6, 5, 6, 7, 8, 7, 6,
            3, 2, 1, 2, 3, 4, 3, 2,
        ])
    // Against PyTorch's index rule on several planes and channels.
    func reflect(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i) }
    let cases: [([Int], Int)] = [([2, 3, 4, 5], 1), ([1, 2, 3, 5], 2), ([2, 1, 6, 3], 2)]
    for (shape, p) in cases {
        let v = randoms(shape, seed: 28)
        let (h, w) = (shape[2], shape[3])
        let out = [shape[0], shape[1], h + 2 * p, w + 2 * p]
        let want = (0..<count(out)).map { o -> Double in
            let i = unravel(o, out)
            return v[flat([i[0], i[1], reflect(i[2] - p, h), reflect(i[3] - p, w)], shape)]
        }
        let got = (tensor(shape, v) as Tensor<Double>).gathered(.reflectionPad(shape, pad: p))
        #expect(got.shape == out)
        expectExact(got.doubles, want, "reflectionPad \(shape) pad \(p)")
    }
}

@Test func sliceAndConcatenationRoundTrip() {
    let cases: [([[Int]], Int)] = [
        ([[2, 1, 3], [2, 4, 3], [2, 2, 3]], 1), ([[1, 3, 2], [3, 3, 2]], 0),
        ([[2, 3, 1], [2, 3, 4]], 2), ([[2, 3, 2, 2], [2, 5, 2, 2]], 1),
    ]
    for (parts, axis) in cases {
        let values = parts.enumerated().map { randoms($1, seed: 29 + UInt64($0)) }
        let maps = GatherMap.concatenation(parts, axis: axis)
        #expect(maps.count == parts.count)
        var wholeShape = parts[0]
        wholeShape[axis] = parts.map { $0[axis] }.reduce(0, +)
        // Naive concatenation.
        let outer = wholeShape[..<axis].reduce(1, *)
        let inner = wholeShape[(axis + 1)...].reduce(1, *)
        var want: [Double] = []
        for o in 0..<outer {
            for (p, s) in parts.enumerated() {
                want += values[p][(o * s[axis] * inner)..<((o + 1) * s[axis] * inner)]
            }
        }
        var whole = Tensor<Double>.zeros(wholeShape)
        for (p, s) in parts.enumerated() {
            let placed = (tensor(s, values[p]) as Tensor<Double>).gathered(maps[p])
            #expect(placed.shape == wholeShape)
            whole = whole + placed
        }
        expectExact(whole.doubles, want, "concat \(parts) axis \(axis)")
        // Slicing the concatenation gives the parts back.
        var offset = 0
        for (p, s) in parts.enumerated() {
            let sl = GatherMap.slice(wholeShape, axis: axis, range: offset..<(offset + s[axis]))
            let back = whole.gathered(sl)
            #expect(back.shape == s)
            expectExact(back.doubles, values[p], "slice \(p) of \(parts) axis \(axis)")
            // And scatteredAdd of a placement is the slice (adjoint of concatenation).
            expectExact(whole.scatteredAdd(maps[p]).doubles, values[p], "concat adjoint \(p)")
            offset += s[axis]
        }
    }
}

@Test func maxPoolKernel3Stride2Pad1() {
    // The wide shapes reach Float32's vector path (eight windows at a time, across and down).
    let shapes: [[Int]] = [
        [2, 3, 7, 6], [1, 2, 8, 8], [3, 1, 5, 9], [1, 1, 1, 1], [1, 1, 2, 3], [80, 2, 4, 4],
        [2, 2, 28, 28], [1, 3, 17, 33], [1, 1, 40, 19],
    ]
    for shape in shapes {
        // Mostly negative values: if the zero padding took part in the max, it would win.
        let v = randoms(shape, seed: 31).map { $0 - 3 }
        let (h, w) = (shape[2], shape[3])
        let (oh, ow) = ((h + 2 - 3) / 2 + 1, (w + 2 - 3) / 2 + 1)
        let out = [shape[0], shape[1], oh, ow]
        let want = (0..<count(out)).map { o -> Double in
            let i = unravel(o, out)
            var m = -Double.infinity
            for a in (i[2] * 2 - 1)..<(i[2] * 2 + 2) where a >= 0 && a < h {
                for b in (i[3] * 2 - 1)..<(i[3] * 2 + 2) where b >= 0 && b < w {
                    m = max(m, v[flat([i[0], i[1], a, b], shape)])
                }
            }
            return m
        }
        let x: Tensor<Double> = tensor(shape, v)
        let map = GatherMap.maxPool(x, kernel: 3, stride: 2, padding: 1)
        #expect(map.outputShape == out)
        expectExact(x.gathered(map).doubles, want, "maxPool \(shape)")
        let xf: Tensor<Float> = tensor(shape, v)
        expectExact(
            xf.gathered(GatherMap.maxPool(xf, kernel: 3, stride: 2, padding: 1)).doubles,
            want.map { Double(Float($0)) }, "Float maxPool \(shape)")
        #expect(map.indices.allSatisfy { $0 >= 0 }, "maxPool picked padding in \(shape)")
        // The maxima found in the same pass as their indices (Float32's vector kernel) are the gather's.
        let (mapF, pooledF) = GatherMap.maxPooled(xf, kernel: 3, stride: 2, padding: 1)
        #expect(mapF.indices == map.indices, "Float and Double maxPool indices differ in \(shape)")
        expectExact(pooledF.doubles, want.map { Double(Float($0)) }, "Float maxPooled values \(shape)")
        expectExact(GatherMap.maxPooled(x, kernel: 3, stride: 2, padding: 1).values.doubles, want, "maxPooled \(shape)")
    }
}

/// With many equal values, the chosen index is the window's first maximum in row-major order
/// (the gradient goes to one input, the same one whatever the kernel's loop order).
@Test func maxPoolTiesPickTheFirstMaximum() {
    for (shape, k, s, p) in [
        ([2, 3, 7, 6], 3, 2, 1), ([1, 2, 8, 8], 2, 2, 0), ([1, 1, 9, 7], 5, 2, 2),
        ([2, 3, 28, 28], 3, 2, 1), ([1, 2, 21, 19], 3, 2, 0), ([1, 1, 30, 35], 3, 2, 1),
        // Stride 1 (the NAS cells' max3x3), on Float32's vector path too: narrow, wide, unpadded, 1x1.
        ([2, 3, 9, 11], 3, 1, 1), ([1, 2, 12, 20], 3, 1, 0), ([3, 2, 17, 9], 3, 1, 1), ([1, 1, 1, 1], 3, 1, 1),
        ([1, 2, 14, 14], 3, 1, 1),
    ] {
        let v = integers(shape, seed: 33, range: 1)  // values in -1...1
        let (h, w) = (shape[2], shape[3])
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1)
        var want: [Int32] = []
        for n in 0..<shape[0] {
            for c in 0..<shape[1] {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var best = -1
                        var bestV = -Double.infinity
                        for a in (i * s - p)..<(i * s - p + k) where a >= 0 && a < h {
                            for b in (j * s - p)..<(j * s - p + k) where b >= 0 && b < w {
                                let f = flat([n, c, a, b], shape)
                                if v[f] > bestV {
                                    best = f
                                    bestV = v[f]
                                }
                            }
                        }
                        want.append(Int32(best))
                    }
                }
            }
        }
        let x: Tensor<Double> = tensor(shape, v)
        #expect(GatherMap.maxPool(x, kernel: k, stride: s, padding: p).indices == want, "\(shape) k \(k) s \(s) p \(p)")
        let xf: Tensor<Float> = tensor(shape, v)
        #expect(
            GatherMap.maxPool(xf, kernel: k, stride: s, padding: p).indices == want,
            "Float \(shape) k \(k) s \(s) p \(p)")
        let (map, pooled) = GatherMap.maxPooled(xf, kernel: k, stride: s, padding: p)
        #expect(map.indices == want && pooled.scalars == xf.gathered(map).scalars, "Float maxPooled \(shape)")
    }
}

@Test func maxPoolOtherWindows() {
    let cases: [([Int], Int, Int, Int)] = [
        ([2, 2, 6, 6], 2, 2, 0), ([1, 2, 7, 5], 3, 1, 1),
        ([2, 1, 9, 9], 5, 2, 2), ([1, 1, 4, 6], 3, 3, 0),
    ]
    for (shape, k, s, p) in cases {
        let v = randoms(shape, seed: 32).map { $0 - 3 }
        let (h, w) = (shape[2], shape[3])
        let out = [shape[0], shape[1], (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1]
        let want = (0..<count(out)).map { o -> Double in
            let i = unravel(o, out)
            var m = -Double.infinity
            for a in (i[2] * s - p)..<(i[2] * s - p + k) where a >= 0 && a < h {
                for b in (i[3] * s - p)..<(i[3] * s - p + k) where b >= 0 && b < w {
                    m = max(m, v[flat([i[0], i[1], a, b], shape)])
                }
            }
            return m
        }
        let x: Tensor<Double> = tensor(shape, v)
        expectExact(
            x.gathered(.maxPool(x, kernel: k, stride: s, padding: p)).doubles, want,
            "maxPool \(shape) k \(k) s \(s) p \(p)")
    }
}

@Test func scatteredAddIsAdjointOfGathered() {
    let shape = [2, 3, 5, 4]
    let x: Tensor<Double> = tensor(shape, randoms(shape, seed: 33))
    var maps: [(String, GatherMap)] = [
        ("upsample", .upsampleNearest(shape, factor: 2)),
        ("zeroPad", .zeroPad(shape, pad: 2)),
        ("reflectionPad 1", .reflectionPad(shape, pad: 1)),
        ("reflectionPad 3", .reflectionPad(shape, pad: 3)),
        ("slice", .slice(shape, axis: 2, range: 1..<4)),
        ("maxPool", .maxPool(x, kernel: 3, stride: 2, padding: 1)),
        ("maxPool overlapping", .maxPool(x, kernel: 3, stride: 1, padding: 1)),
    ]
    let parts = GatherMap.concatenation([shape, [2, 1, 5, 4]], axis: 1)
    maps.append(("concat 0", parts[0]))
    for (name, map) in maps {
        #expect(map.sourceShape == shape, "\(name)")
        let y: Tensor<Double> = tensor(map.outputShape, randoms(map.outputShape, seed: 34))
        let gx = x.gathered(map)
        let sy = y.scatteredAdd(map)
        #expect(gx.shape == map.outputShape && sy.shape == map.sourceShape, "\(name)")
        let (lhs, rhs) = (dot(gx.doubles, y.doubles), dot(x.doubles, sy.doubles))
        #expect(
            abs(lhs - rhs) <= 1e-12 * (norm(gx.doubles) * norm(y.doubles) + 1e-300),
            "\(name): <gathered(x), y> = \(lhs), <x, scatteredAdd(y)> = \(rhs)")
        // And scatteredAdd against a naive scatter through the indices.
        var want = [Double](repeating: 0, count: count(shape))
        for (i, j) in map.indices.enumerated() where j >= 0 { want[Int(j)] += y.scalars[i] }
        expectClose(sy.doubles, want, scale: [Double](repeating: 10, count: want.count), tol: 1e-14, "\(name) scatter")
        // And gathered against a naive gather through the indices.
        expectExact(gx.doubles, map.indices.map { $0 < 0 ? 0 : x.scalars[Int($0)] }, "\(name) gather")
    }
}

// MARK: - RandomSource

/// Reference xoshiro256** (Blackman & Vigna, xoshiro256starstar.c) seeded with four SplitMix64
/// outputs, written out independently.
private struct ReferenceXoshiro {
    var s0, s1, s2, s3: UInt64
    init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        (s0, s1, s2, s3) = (splitmix(), splitmix(), splitmix(), splitmix())
    }
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
    mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }
}

@Test func randomSourceMatchesReferenceXoshiro() {
    // SplitMix64's first output from seed 0 is the well-known 0xE220A8397B1DCDAF.
    #expect(RandomSource(seed: 0).state[0] == 0xE220_A839_7B1D_CDAF)
    for seed: UInt64 in [0, 1, 42, 0xDEAD_BEEF, .max] {
        var rng = RandomSource(seed: seed)
        var ref = ReferenceXoshiro(seed: seed)
        let got = (0..<200).map { _ in rng.next() }
        let want = (0..<200).map { _ in ref.next() }
        #expect(got == want, "seed \(seed)")
    }
}

/// `randomNormal` draws in order and transforms on all workers: the numbers `normal()` gives one by
/// one, and the stream left where those draws leave it (a size of several workers' shares).
@Test func randomNormalTensorIsTheStreamOfNormals() {
    var (a, b) = (RandomSource(seed: 99), RandomSource(seed: 99))
    let n = 100_003
    #expect(
        Tensor<Float>.randomNormal([n], mean: 0.5, std: 2, using: &a).scalars
            == (0..<n).map { _ in 0.5 + 2 * b.normal(Float.self) })
    #expect(a == b)
}

@Test func randomSourceSameSeedSameStream() {
    var a = RandomSource(seed: 12345)
    var b = RandomSource(seed: 12345)
    #expect((0..<1000).map { _ in a.next() } == (0..<1000).map { _ in b.next() })
    #expect((0..<100).map { _ in a.normal(Double.self) } == (0..<100).map { _ in b.normal(Double.self) })
    #expect((0..<100).map { _ in a.uniform(Float.self) } == (0..<100).map { _ in b.uniform(Float.self) })
    #expect(Tensor<Float>.randomNormal([50], using: &a) == Tensor<Float>.randomNormal([50], using: &b))
    #expect(a == b)
    // A copy continues the same stream.
    var c = a
    #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in c.next() })
    // Two fresh sources with the same seed give the same tensors.
    var r1 = RandomSource(seed: 7)
    var r2 = RandomSource(seed: 7)
    #expect(Tensor<Double>.randomUniform([3, 4], using: &r1) == Tensor<Double>.randomUniform([3, 4], using: &r2))
}

@Test func randomSourceDifferentSeedsDiffer() {
    let seeds: [UInt64] = [0, 1, 2, 3, 12345, 12346, .max, .max - 1]
    let streams = seeds.map { seed -> [UInt64] in
        var r = RandomSource(seed: seed)
        return (0..<16).map { _ in r.next() }
    }
    for i in 0..<seeds.count {
        for j in (i + 1)..<seeds.count {
            // Independent 64-bit streams: not a single value should coincide position by position.
            let same = (0..<16).filter { streams[i][$0] == streams[j][$0] }.count
            #expect(same == 0, "seeds \(seeds[i]) and \(seeds[j]) agree at \(same) of 16 positions")
        }
    }
    // split() gives a stream different from its parent's continuation.
    var p = RandomSource(seed: 99)
    var child = p.split()
    let (pc, cc) = ((0..<16).map { _ in p.next() }, (0..<16).map { _ in child.next() })
    #expect(pc != cc)
}

@Test func randomNormalMoments() {
    do {
        var rng = RandomSource(seed: 1)
        let d = Tensor<Double>.randomNormal([100_000], using: &rng).scalars
        let mean = d.reduce(0, +) / Double(d.count)
        let std = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)).squareRoot()
        #expect(abs(mean) < 0.02, "Double mean \(mean)")
        #expect(abs(std - 1) < 0.02, "Double std \(std)")
        // Fourth moment of N(0,1) is 3: catches a uniform or otherwise non-normal shape.
        let kurt =
            d.map {
                let z = ($0 - mean) / std
                return z * z * z * z
            }.reduce(0, +) / Double(d.count)
        #expect(abs(kurt - 3) < 0.1, "Double kurtosis \(kurt)")

        let f = Tensor<Float>.randomNormal([100_000], mean: 3, std: 2, using: &rng).scalars.map { Double($0) }
        let fm = f.reduce(0, +) / Double(f.count)
        let fs = (f.map { ($0 - fm) * ($0 - fm) }.reduce(0, +) / Double(f.count)).squareRoot()
        #expect(abs(fm - 3) < 0.04, "Float mean \(fm)")
        #expect(abs(fs - 2) < 0.04, "Float std \(fs)")
    }
}

@Test func randomUniformMoments() {
    var rng = RandomSource(seed: 3)
    let u = Tensor<Double>.randomUniform([100_000], using: &rng).scalars
    #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
    let mean = u.reduce(0, +) / Double(u.count)
    let variance = u.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(u.count)
    #expect(abs(mean - 0.5) < 0.01, "uniform mean \(mean)")
    #expect(abs(variance - 1.0 / 12) < 0.005, "uniform variance \(variance)")
    let r = Tensor<Float>.randomUniform([10_000], low: -2, high: 5, using: &rng).scalars
    #expect(r.allSatisfy { $0 >= -2 && $0 < 5 })
}

/// `uniform` promises [0, 1). Build a source whose next draw is the largest possible, 2^64 - 1
/// (this happens about once every 2^25 Float draws: any draw >= 2^64 - 2^39 does it).
@Test func uniformFloatStaysBelowOne() throws {
    // next() returns rotl(s1 * 5, 7) * 9; invert that for the wanted output.
    func inverse(_ a: UInt64) -> UInt64 {  // Newton's iteration for the inverse of an odd number mod 2^64
        var x = a
        for _ in 0..<6 { x = x &* (2 &- a &* x) }
        return x
    }
    let wanted = UInt64.max
    let rotated = wanted &* inverse(9)
    let s1 = ((rotated >> 7) | (rotated << 57)) &* inverse(5)
    let json = Data(#"{"state":[1,\#(s1),2,3]}"#.utf8)
    let rng = try JSONDecoder().decode(RandomSource.self, from: json)
    var probe = rng
    try #require(probe.next() == wanted, "could not build the probe state")
    var rngD = rng
    var rngF = rng
    #expect(rngD.uniform(Double.self) < 1)
    let f = rngF.uniform(Float.self)
    // Regression: uniform(Float.self) once rounded a 53-bit Double draw to Float, which returned
    // exactly 1.0 for draws >= 1 - 2^-25.
    #expect(f < 1, "uniform(Float.self) returned \(f) for next() == 2^64 - 1")
}

/// Float32 tanh runs eight lanes at a time (`VectorMath.tanh`): within 3 ulp of the correctly
/// rounded Float64 value everywhere, checked on a dense sweep of [-12, 12] (both branches, their
/// seam at |x| = 0.625, the saturation), tiny and huge values, signed zeros, infinities and NaN,
/// in a tensor large enough to split over the workers, with a length that leaves a partial vector.
@Test func float32TanhIsWithinThreeUlp() {
    var xs: [Float] = (0..<600_001).map { Float(-12 + 24 * Double($0) / 600_000) }
    xs += [0, -0.0, 1e-30, -1e-30, 1e-6, 0.6249999, 0.625, 0.6250001, -0.625, 9, 9.1, 80, 200, -200]
    xs += [Float.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity]
    xs += [Float.nan, 0.1, 0.3]  // 600023 elements: 7 past a multiple of 8
    let y = Tensor<Float>(shape: [xs.count], scalars: xs).tanh().scalars
    var worst = 0.0
    for (x, got) in zip(xs, y) {
        if x.isNaN {
            #expect(got.isNaN)
            continue
        }
        let exact = Foundation.tanh(Double(x))
        let ulp = Double(Float(exact).ulp)
        let err = abs(Double(got) - exact) / ulp
        worst = max(worst, err)
        #expect(err <= 3, "tanh(\(x)) = \(got), exact \(exact): \(err) ulp")
        #expect(got.sign == x.sign || got == 0, "tanh(\(x)) has the wrong sign: \(got)")
    }
    #expect(worst > 0, "the sweep compared nothing")
}
