import Foundation
import GTN
import GTNTensor
import Testing

@Suite("Realism and coverage scores, and the LAPACK they use")
struct ScoreTests {
    @Test("classifier score, coverage and entropy on hand-made predictions with known values")
    func handMadePredictions() {
        let k = 4
        func probabilities(_ rows: [[Float]]) -> Tensor<Float> { Tensor(shape: [rows.count, k], scalars: rows.flatMap { $0 }) }
        // Uniform predictions: no information, score 1; every row's arg-max is class 0.
        let uniform = SampleScores.of(probabilities: probabilities(Array(repeating: [0.25, 0.25, 0.25, 0.25], count: 8)))
        #expect(abs(uniform.classifierScore - 1) < 1e-9)
        // Confident and all one class (mode collapse): score 1, one class covered, entropy 0.
        let collapsed = SampleScores.of(
            probabilities: probabilities(Array(repeating: [0, 1, 0, 0], count: 8)), requested: [1, 1, 1, 1, 0, 0, 2, 3])
        #expect(abs(collapsed.classifierScore - 1) < 1e-9)
        #expect(collapsed.classesCovered == 1 && collapsed.classEntropy == 0)
        #expect(collapsed.labelAgreement == 0.5)
        // Confident and spread evenly: score K, K classes covered, entropy ln K.
        let rows = (0..<8).map { i in (0..<k).map { $0 == i % k ? Float(1) : 0 } }
        let even = SampleScores.of(probabilities: probabilities(rows), requested: (0..<8).map { $0 % k })
        #expect(abs(even.classifierScore - Double(k)) < 1e-6)
        #expect(even.classesCovered == k && abs(even.classEntropy - Foundation.log(Double(k))) < 1e-12)
        #expect(even.labelAgreement == 1)
    }

    @Test("symmetric eigen-decomposition (LAPACK dsyev) reconstructs the matrix")
    func eigen() throws {
        var rng = RandomSource(seed: 5)
        let n = 6
        let x = Tensor<Double>.randomNormal([n, n], using: &rng).scalars
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { a[i * n + j] = x[i * n + j] + x[j * n + i] } }
        let (values, v) = try LinearAlgebra.symmetricEigen(a, n: n)
        #expect(values == values.sorted())
        for i in 0..<n {
            for j in 0..<n {
                let r = (0..<n).reduce(0.0) { $0 + v[i * n + $1] * values[$1] * v[j * n + $1] }
                #expect(abs(r - a[i * n + j]) < 1e-10)
            }
        }
    }

    @Test("tr sqrt(A B): diagonal matrices, and the 2 x 2 closed form sqrt(tr M + 2 sqrt(det M))")
    func traceSqrtProduct() throws {
        let d = try LinearAlgebra.traceSqrtProduct([4, 0, 0, 9], [1, 0, 0, 4], n: 2)
        #expect(abs(d - (2 + 6)) < 1e-10)
        let a: [Double] = [2, 0.5, 0.5, 1]
        let b: [Double] = [1, -0.3, -0.3, 3]
        let m = LinearAlgebra.multiply(a, b, 2)
        let det = m[0] * m[3] - m[1] * m[2]
        let expected = (m[0] + m[3] + 2 * det.squareRoot()).squareRoot()
        #expect(abs(try LinearAlgebra.traceSqrtProduct(a, b, n: 2) - expected) < 1e-10)
    }

    @Test("Fréchet distance: 0 for the same set, |Δμ|² for a shifted copy")
    func frechet() throws {
        var rng = RandomSource(seed: 8)
        let d = 5
        let a = Tensor<Double>.randomNormal([200, d], using: &rng).scalars
        #expect(abs(try SampleScores.frechetDistance(a, a, dimension: d)) < 1e-8)
        let shift: [Double] = [1, -2, 0, 0.5, 3]
        let b = a.enumerated().map { $0.element + shift[$0.offset % d] }
        let expected = shift.reduce(0) { $0 + $1 * $1 }
        #expect(abs(try SampleScores.frechetDistance(a, b, dimension: d) - expected) < 1e-7)
    }
}
