import GTNAutodiff
import GTNTensor
import Testing

/// Every primitive, checked at first and second order against central finite differences in
/// Float64 (see `DerivativeCheck`). A case is a function of its inputs plus input shapes.
struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    let shapes: [[Int]]
    /// Inputs are drawn from N(0,1); `positive` shifts them into (0.5, 1.5) for log/sqrt/pow/divide.
    var positive = false
    let f: @Sendable ([Variable<Double>]) -> Variable<Double>
    var testDescription: String { name }

    func inputs(seed: UInt64) -> [Tensor<Double>] {
        var rng = RandomSource(seed: seed)
        return shapes.map { s in
            positive ? .randomUniform(s, low: 0.5, high: 1.5, using: &rng) : .randomNormal(s, using: &rng)
        }
    }
}

let tolerance = 1e-5

func convCase(_ name: String, x: [Int], w: [Int], stride: Int, padding: Int, groups: Int) -> [Case] {
    let geo = ConvGeometry(input: x, weight: w, stride: stride, padding: padding, groups: groups)
    return [
        Case(name: "conv2d \(name)", shapes: [x, w]) {
            conv2d($0[0], $0[1], stride: stride, padding: padding, groups: groups)
        },
        Case(name: "conv2dBackwardInput \(name)", shapes: [geo.outputShape, w]) {
            conv2dBackwardInput($0[0], $0[1], geo)
        },
        Case(name: "conv2dBackwardWeight \(name)", shapes: [x, geo.outputShape]) {
            conv2dBackwardWeight($0[0], $0[1], geo)
        },
    ]
}

let slice = GatherMap.slice([3, 5, 2], axis: 1, range: 1..<4)
let reflect = GatherMap.reflectionPad([2, 2, 4, 3], pad: 1)

let primitiveCases: [Case] =
    [
        Case(name: "add", shapes: [[3, 4], [3, 4]]) { $0[0] + $0[1] },
        Case(name: "add broadcast [2,3,4]+[3,1]", shapes: [[2, 3, 4], [3, 1]]) { $0[0] + $0[1] },
        Case(name: "subtract broadcast [4]-[2,4]", shapes: [[4], [2, 4]]) { $0[0] - $0[1] },
        Case(name: "multiply", shapes: [[3, 4], [3, 4]]) { $0[0] * $0[1] },
        Case(name: "multiply broadcast [2,3,2,2]*[1,3,1,1]", shapes: [[2, 3, 2, 2], [1, 3, 1, 1]]) { $0[0] * $0[1] },
        Case(name: "divide", shapes: [[3, 4], [3, 4]], positive: true) { $0[0] / $0[1] },
        Case(name: "divide broadcast [3,4]/[]", shapes: [[3, 4], []], positive: true) { $0[0] / $0[1] },
        Case(name: "negate", shapes: [[5]]) { -$0[0] },
        Case(name: "scale", shapes: [[5]]) { $0[0] * 2.5 },
        Case(name: "shift", shapes: [[5]]) { $0[0] + 2.5 },
        Case(name: "exp", shapes: [[6]]) { $0[0].exp() },
        Case(name: "log", shapes: [[6]], positive: true) { $0[0].log() },
        Case(name: "tanh", shapes: [[6]]) { $0[0].tanh() },
        Case(name: "sqrt", shapes: [[6]], positive: true) { $0[0].sqrt() },
        Case(name: "pow -0.5", shapes: [[6]], positive: true) { $0[0].pow(-0.5) },
        Case(name: "pow 3", shapes: [[6]], positive: true) { $0[0].pow(3) },
        Case(name: "leakyRelu", shapes: [[20]]) { $0[0].leakyRelu(slope: 0.1) },
        Case(name: "leakyReluGradient (at a fixed input)", shapes: [[4, 5]]) { v in
            var rng = RandomSource(seed: 9)
            return v[0].leakyReluGradient(at: .randomNormal([4, 5], using: &rng), slope: 0.1)
        },
        Case(name: "multiplyAdd x a + y", shapes: [[3, 4], [1], [3, 4]]) { $0[0].multiplyAdd($0[1], $0[2]) },
        Case(name: "scaled(by:)", shapes: [[3, 4], [1]]) { $0[0].scaled(by: $0[1]) },
        Case(name: "dot", shapes: [[3, 4], [3, 4]]) { $0[0].dot($0[1]) },
        Case(name: "sumOfSquares to [1,3,1]", shapes: [[2, 3, 4]]) { $0[0].sumOfSquares(toShape: [1, 3, 1]) },
        Case(name: "centred along [0,2,3] plus shift", shapes: [[3, 2, 2, 2], [1, 2, 1, 1]]) {
            $0[0].centred(alongAxes: [0, 2, 3], plus: $0[1])
        },
        Case(name: "centred along [0] given its mean, then squared", shapes: [[4, 3]]) { v in
            let m = v[0].mean(alongAxes: [0])
            return v[0].centred(alongAxes: [0], mean: m.value) * v[0]
        },
        Case(name: "sum to [1,3,1]", shapes: [[2, 3, 4]]) { $0[0].sum(toShape: [1, 3, 1]) },
        Case(name: "sum to []", shapes: [[2, 3]]) { $0[0].sum(toShape: []) },
        Case(name: "broadcast [3,1] to [2,3,4]", shapes: [[3, 1]]) { $0[0].broadcast(to: [2, 3, 4]) },
        Case(name: "reshape", shapes: [[2, 6]]) { $0[0].reshaped([3, 4]) },
        Case(name: "permute", shapes: [[2, 3, 4]]) { $0[0].permuted([2, 0, 1]) },
        Case(name: "gather slice", shapes: [[3, 5, 2]]) { $0[0].gathered(slice) },
        Case(name: "gather reflection pad", shapes: [[2, 2, 4, 3]]) { $0[0].gathered(reflect) },
        Case(name: "scatterAdd", shapes: [[2, 2, 6, 5]]) { $0[0].scatteredAdd(reflect) },
        Case(name: "matmul", shapes: [[3, 4], [4, 5]]) { matmul($0[0], $0[1]) },
        Case(name: "matmul aᵀ", shapes: [[4, 3], [4, 5]]) { matmul($0[0], $0[1], transposeA: true) },
        Case(name: "matmul bᵀ", shapes: [[3, 4], [5, 4]]) { matmul($0[0], $0[1], transposeB: true) },
        Case(name: "matmul aᵀbᵀ", shapes: [[4, 3], [5, 4]]) {
            matmul($0[0], $0[1], transposeA: true, transposeB: true)
        },
    ]
    + convCase("3x3 pad 1", x: [2, 3, 5, 5], w: [4, 3, 3, 3], stride: 1, padding: 1, groups: 1)
    + convCase("3x3 stride 2 pad 1", x: [2, 2, 6, 5], w: [3, 2, 3, 3], stride: 2, padding: 1, groups: 1)
    + convCase("1x1", x: [2, 3, 4, 4], w: [5, 3, 1, 1], stride: 1, padding: 0, groups: 1)
    + convCase(
        "narrowing 3x3 (input adjoint as a convolution)", x: [2, 4, 5, 4], w: [2, 4, 3, 3], stride: 1, padding: 1,
        groups: 1)
    + convCase("winograd 3x3 16 channels", x: [2, 16, 4, 3], w: [16, 16, 3, 3], stride: 1, padding: 1, groups: 1)
    + convCase(
        "winograd 3x3 16 channels pad 0", x: [1, 16, 5, 4], w: [16, 16, 3, 3], stride: 1, padding: 0, groups: 1)
    + convCase("grouped 3x3", x: [2, 4, 4, 4], w: [6, 2, 3, 3], stride: 1, padding: 1, groups: 2)
    + convCase("depthwise 3x3 stride 2", x: [2, 3, 5, 5], w: [3, 1, 3, 3], stride: 2, padding: 1, groups: 3)

/// Max pooling's map of one random [2, 5, 6, 5] tensor: the scatter of the fused weight adjoint below.
let poolMap: GatherMap = {
    var rng = RandomSource(seed: 3)
    return GatherMap.maxPooled(
        Tensor<Double>.randomNormal([2, 5, 6, 5], using: &rng), kernel: 3, stride: 2, padding: 1
    ).map
}()

let compositeCases: [Case] = [
    Case(name: "conv2dBackwardWeightScattered", shapes: [[2, 2, 6, 5], [2, 5, 3, 3]]) {
        conv2dBackwardWeightScattered(
            $0[0], $0[1], poolMap,
            ConvGeometry(input: [2, 2, 6, 5], weight: [5, 2, 3, 3], stride: 1, padding: 1, groups: 1))
    },
    Case(name: "conv2dBackwardInputScattered", shapes: [[2, 5, 3, 3], [5, 2, 3, 3]]) {
        conv2dBackwardInputScattered(
            $0[0], $0[1], poolMap,
            ConvGeometry(input: [2, 2, 6, 5], weight: [5, 2, 3, 3], stride: 1, padding: 1, groups: 1))
    },
    // (In Float64 this is the two ops; the Float32 kernel is checked against them bit for bit below.)
    Case(name: "conv then 3x3 max pool (conv2dMaxPooled)", shapes: [[2, 1, 6, 5], [5, 1, 3, 3]]) {
        conv2dMaxPooled(
            $0[0], $0[1], ConvGeometry(input: [2, 1, 6, 5], weight: [5, 1, 3, 3], stride: 1, padding: 1, groups: 1),
            poolStride: 2, poolPadding: 1)
    },
    Case(name: "upsampledConv2d", shapes: [[2, 3, 3, 2], [2, 3, 3, 3]]) { upsampledConv2d($0[0], $0[1]) },
    Case(name: "upsampledConv2dBackwardInput", shapes: [[2, 2, 6, 4], [2, 3, 3, 3]]) {
        upsampledConv2dBackwardInput($0[0], $0[1])
    },
    Case(name: "upsampledConv2dBackwardWeight", shapes: [[2, 3, 3, 2], [2, 2, 6, 4]]) {
        upsampledConv2dBackwardWeight($0[0], $0[1])
    },
    Case(name: "logSoftmax", shapes: [[4, 5]]) { $0[0].logSoftmax() },
    Case(name: "sigmoid", shapes: [[6]]) { $0[0].sigmoid() },
    Case(name: "mean along axes", shapes: [[2, 3, 4]]) { $0[0].mean(alongAxes: [0, 2]) },
    Case(name: "crossEntropy soft labels", shapes: [[4, 5], [4, 5]]) {
        crossEntropy(logProbs: $0[0].logSoftmax(), targets: $0[1].logSoftmax().exp())
    },
    Case(name: "maxPool 3x3 stride 2 pad 1", shapes: [[2, 2, 6, 6]]) {
        maxPool2d($0[0], kernel: 3, stride: 2, padding: 1)
    },
    Case(name: "avgPool 3x3 stride 1 pad 1", shapes: [[2, 2, 4, 4]]) {
        avgPool2d($0[0], kernel: 3, stride: 1, padding: 1)
    },
    Case(name: "globalAvgPool", shapes: [[2, 3, 3, 3]]) { globalAvgPool2d($0[0]) },
    Case(name: "upsampleNearest x2", shapes: [[1, 2, 3, 3]]) { upsampleNearest2d($0[0], factor: 2) },
    Case(name: "reflectionPad 1", shapes: [[1, 2, 3, 4]]) { reflectionPad2d($0[0], padding: 1) },
    Case(name: "zeroPad 1", shapes: [[1, 2, 3, 3]]) { zeroPad2d($0[0], padding: 1) },
    Case(name: "concat axis 1", shapes: [[2, 3], [2, 2]]) { concat([$0[0], $0[1]], axis: 1) },
    Case(name: "checkpointed segment keeping its products", shapes: [[3, 4], [4, 4]]) { v in
        let out = checkpointed([v[0], v[1]], replay: .keepProducts(minimumCost: 1)) { xs in
            let h = matmul(xs[0], xs[1])
            return [matmul(h.tanh(), xs[1]), xs[0].exp()]
        }
        return out[0] * out[1].sum()
    },
    Case(name: "checkpointed segment", shapes: [[3, 4], [4, 4]]) { v in
        let out = checkpointed([v[0], v[1]]) { xs in [matmul(xs[0], xs[1]).tanh(), xs[0].exp()] }
        return out[0].sum(alongAxes: [1]) + out[1] * out[1]
    },
]

@Suite("Derivatives of every primitive vs finite differences (Float64)")
struct PrimitiveDerivativeTests {
    @Test("first and second order", arguments: primitiveCases + compositeCases)
    func firstAndSecondOrder(_ c: Case) {
        let (first, second) = DerivativeCheck.firstAndSecondOrder(of: c.f, at: c.inputs(seed: 42))
        #expect(first.maxError < tolerance, "\(c.name) first order: \(first)")
        #expect(second.maxError < tolerance, "\(c.name) second order: \(second)")
    }
}

/// The fused Float32 kernel of conv + max pooling against the two ops it replaces: the same value,
/// and the same first- and second-order derivatives, bit for bit (same products, same pooling,
/// same pullbacks). Shapes where the fused path runs: one or three input channels, both strides
/// and paddings of the pool, an odd size that leaves a partial window.
@Test(arguments: [
    ([3, 1, 9, 9], [6, 1, 3, 3], 2, 1), ([2, 3, 8, 7], [5, 3, 3, 3], 2, 1),
    ([2, 1, 7, 10], [5, 1, 3, 3], 1, 1), ([2, 2, 7, 6], [9, 2, 3, 3], 2, 0),
])
func fusedConvMaxPoolMatchesTheTwoOps(_ c: ([Int], [Int], Int, Int)) {
    let (xShape, wShape, poolStride, poolPadding) = c
    let geo = ConvGeometry(input: xShape, weight: wShape, stride: 1, padding: 1, groups: 1)
    #expect(Convolution.fusesMaxPool(Float.self, geo, poolStride: poolStride, poolPadding: poolPadding))
    var rng = RandomSource(seed: 7)
    let (x0, w0) = (Tensor<Float>.randomNormal(xShape, using: &rng), Tensor<Float>.randomNormal(wShape, using: &rng))
    func derivatives(fused: Bool) -> [Tensor<Float>] {
        let (x, w) = (Variable(x0, requiresGrad: true), Variable(w0, requiresGrad: true))
        let y =
            fused
            ? conv2dMaxPooled(x, w, geo, poolStride: poolStride, poolPadding: poolPadding)
            : maxPool2d(conv2d(x, w, geo), kernel: 3, stride: poolStride, padding: poolPadding)
        var r = RandomSource(seed: 11)
        let loss = (y * Variable(Tensor<Float>.randomNormal(y.shape, using: &r))).sum()
        let first = gradients(of: loss, wrt: [x, w], createGraph: true)
        // A function of the first derivatives, so the second order runs through both adjoints.
        let second = gradients(of: (first[0] * first[0]).sum() + (first[1] * first[1]).sum(), wrt: [x, w])
        // As in the inner loop: the weight's adjoint alone (the fused path scatters in scratch),
        // then differentiated in both inputs (a loss whose gradient depends on w, so that the
        // pullback's gradient side is nonzero too).
        let dw = gradients(of: (y * y).sum(), wrt: [w], createGraph: true)[0]
        let secondOfDw = gradients(of: (dw * dw).sum(), wrt: [x, w])
        return [y.value] + first.map(\.value) + second.map(\.value) + [dw.value] + secondOfDw.map(\.value)
    }
    let (fused, plain) = (derivatives(fused: true), derivatives(fused: false))
    for (k, name) in ["value", "dx", "dw", "d2x", "d2w", "dw alone", "d2x of dw", "d2w of dw"].enumerated() {
        #expect(fused[k].shape == plain[k].shape, "\(name)")
        #expect(fused[k].scalars == plain[k].scalars, "\(name) differs")
        #expect(fused[k].scalars.contains { $0 != 0 }, "\(name) is all zeros: the check would be empty")
    }
}

/// The upsampled convolution (the generator's last layer, computed from x: four 2x2 phase kernels
/// on the edge-padded input) against the ops it replaces, upsampling + reflection padding as a
/// gather and then conv2d: value and first- and second-order derivatives agree to rounding, in
/// Float64 and in Float32. Shapes: one and several output channels, a 1-pixel-high plane, odd
/// and non-square sizes, a batch that splits unevenly over the workers.
@Test(arguments: [
    ([2, 3, 4, 4], [1, 3, 3, 3]), ([3, 5, 1, 3], [2, 5, 3, 3]), ([5, 2, 7, 5], [3, 2, 3, 3]),
    ([1, 1, 2, 9], [4, 1, 3, 3]),
])
func upsampledConvMatchesUpsampleThenConv(_ c: ([Int], [Int])) {
    let (xShape, wShape) = c
    #expect(UpsampledConvolution.handles(input: xShape, weight: wShape))
    func derivatives<S: TensorScalar>(fused: Bool, _: S.Type) -> [Tensor<S>] {
        var rng = RandomSource(seed: 5)
        let x = Variable(Tensor<S>.randomNormal(xShape, using: &rng), requiresGrad: true)
        let w = Variable(Tensor<S>.randomNormal(wShape, using: &rng), requiresGrad: true)
        let y = fused ? upsampledConv2d(x, w) : conv2d(upsampleNearestReflectionPad2d(x, factor: 2, padding: 1), w)
        let loss = (y * Variable(Tensor<S>.randomNormal(y.shape, using: &rng))).sum()
        let first = gradients(of: loss, wrt: [x, w], createGraph: true)
        let second = gradients(
            of: (first[0] * first[0]).sum() + (first[1] * first[1]).sum(), wrt: [x, w], retainGraph: true)
        let dw = gradients(of: (y * y).sum(), wrt: [w], createGraph: true)[0]
        let secondOfDw = gradients(of: (dw * dw).sum(), wrt: [x, w])
        return [y.value] + first.map(\.value) + second.map(\.value) + [dw.value] + secondOfDw.map(\.value)
    }
    let names = ["value", "dx", "dw", "d2x", "d2w", "dw alone", "d2x of dw", "d2w of dw"]
    func check<S: TensorScalar>(_ type: S.Type, tolerance: Double) {
        let (fused, plain) = (derivatives(fused: true, type), derivatives(fused: false, type))
        for (k, name) in names.enumerated() {
            #expect(fused[k].shape == plain[k].shape, "\(name)")
            let scale = plain[k].scalars.reduce(0.0) { max($0, abs(Double($1))) }
            let err = zip(fused[k].scalars, plain[k].scalars).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
            #expect(err <= tolerance * max(scale, 1), "\(name) (\(S.self)): max difference \(err), scale \(scale)")
            #expect(scale > 0, "\(name) is all zeros: the check would be empty")
        }
    }
    check(Double.self, tolerance: 1e-12)
    check(Float.self, tolerance: 1e-5)
}
