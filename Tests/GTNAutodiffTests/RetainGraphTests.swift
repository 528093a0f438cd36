import GTNAutodiff
import GTNTensor
import Testing

@Suite("Graph release during backward passes")
struct RetainGraphTests {
    static func graph() -> (Variable<Double>, Variable<Double>) {
        var rng = RandomSource(seed: 3)
        let w = Variable(Tensor<Double>.randomNormal([3, 4], using: &rng), requiresGrad: true)
        let x = Variable(Tensor<Double>.randomNormal([5, 3], using: &rng))
        return (matmul(x, w).tanh().sum(), w)
    }

    @Test("retainGraph: true allows a second pass with the same result")
    func retained() {
        let (loss, w) = Self.graph()
        let a = gradients(of: loss, wrt: [w], retainGraph: true)[0].value
        let b = gradients(of: loss, wrt: [w])[0].value
        #expect(a == b)
        #expect(a.scalars.contains { $0 != 0 })
    }

    @Test("a second pass over a released graph stops with a message instead of returning zeros")
    func releasedGraphIsAnError() async {
        await #expect(processExitsWith: .failure) {
            let (loss, w) = RetainGraphTests.graph()
            _ = gradients(of: loss, wrt: [w])
            _ = gradients(of: loss, wrt: [w])
        }
    }
}
