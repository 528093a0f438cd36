import Foundation
import GTNTensor
import GTNTune
import Testing

/// Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 (three places).
func branin(_ u: [Double]) -> Double {
    let (x, y) = (-5 + 15 * u[0], 15 * u[1])
    let (a, b, c, r, s, t) = (1.0, 5.1 / (4 * Double.pi * Double.pi), 5 / Double.pi, 6.0, 10.0, 1 / (8 * Double.pi))
    return a * pow(y - b * x * x + c * x - r, 2) + s * (1 - t) * cos(x) + s
}

/// Hartmann 6-D on [0, 1]^6; minimum -3.32237.
func hartmann6(_ x: [Double]) -> Double {
    let alpha = [1.0, 1.2, 3.0, 3.2]
    let a: [[Double]] = [
        [10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14],
    ]
    let p: [[Double]] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ]
    var total = 0.0
    for i in 0..<4 {
        var inner = 0.0
        for j in 0..<6 { inner += a[i][j] * pow(x[j] - p[i][j], 2) }
        total += alpha[i] * exp(-inner)
    }
    return -total
}

@Suite("Bayesian optimisation")
struct TuneTests {
    @Test("Cholesky (LAPACK dpotrf) and its solve (dpotrs)")
    func cholesky() throws {
        let a: [Double] = [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]
        let l = try LinearAlgebra.cholesky(a, n: 3)
        #expect(l[1] == 0 && l[2] == 0 && l[5] == 0)
        for i in 0..<3 {
            for j in 0..<3 {
                let v = (0..<3).reduce(0.0) { $0 + l[i * 3 + $1] * l[j * 3 + $1] }
                #expect(abs(v - a[i * 3 + j]) < 1e-12)
            }
        }
        let x = try LinearAlgebra.choleskySolve(l, n: 3, [1, 2, 3, 4, 5, 6], columns: 2)
        for i in 0..<3 {
            for c in 0..<2 {
                let v = (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * x[$1 * 2 + c] }
                #expect(abs(v - Double(i * 2 + c + 1)) < 1e-12)
            }
        }
        #expect(throws: LinearAlgebra.LAPACKError.self) { try LinearAlgebra.cholesky([1, 2, 2, 1], n: 2) }
    }

    @Test("GP posterior on two points, against the closed form")
    func posterior() throws {
        // Outputs 0 and 2 standardise to -1 and 1; Matérn 5/2 with s² = 1, ℓ = 0.5, σ² = 1e-4.
        let h = GaussianProcess.Hyperparameters(signalVariance: 1, lengthScales: [0.5], noiseVariance: 1e-4)
        let gp = try #require(GaussianProcess(inputs: [[0], [1]], outputs: [0, 2], hyperparameters: h))
        func matern(_ d: Double) -> Double {
            let r = 5.0.squareRoot() * d / 0.5
            return (1 + r + r * r / 3) * exp(-r)
        }
        let (k01, kStar) = (matern(1), matern(0.5))
        let p = gp.predict([[0.5], [0], [0.25]])
        // Midway: by symmetry the mean is the data's mean; variance 1 - 2 k*² / (1 + σ² + k01).
        #expect(abs(p.mean[0] - 1) < 1e-12)
        #expect(abs(p.sd[0] - (1 - 2 * kStar * kStar / (1 + 1e-4 + k01)).squareRoot()) < 1e-9)
        // At a data point: close to its value, with almost no uncertainty.
        #expect(abs(p.mean[1] - 0) < 1e-3 && p.sd[1] < 0.02)
        // Between: K⁻¹ y for the antisymmetric y = [-1, 1] is y / (1 + σ² - k01).
        let (ka, kb) = (matern(0.25), matern(0.75))
        #expect(abs(p.mean[2] - (1 + (kb - ka) / (1 + 1e-4 - k01))) < 1e-9)
    }

    @Test("expected improvement: its closed form at z = 0 and its limit without uncertainty")
    func expectedImprovementValues() {
        #expect(abs(expectedImprovement(mean: 1, sd: 2, best: 1, xi: 0) - 2 / (2 * Double.pi).squareRoot()) < 1e-12)
        #expect(expectedImprovement(mean: 0.5, sd: 0, best: 1, xi: 0) == 0.5)
        #expect(expectedImprovement(mean: 1.5, sd: 0, best: 1, xi: 0) == 0)
    }

    func bestFound(_ f: ([Double]) -> Double, dimensions: Int, budget: Int, seed: UInt64, random: Bool) -> Double {
        var bo = BayesianOptimizer(
            space: (0..<dimensions).map { SearchDimension(name: "x\($0)", low: 0, high: 1) },
            initialRandom: random ? budget : 5, seed: seed)
        var best = Double.infinity
        for _ in 0..<budget {
            let x = bo.suggest().point
            let y = f(x)
            bo.observe(x, y)
            best = min(best, y)
        }
        return best
    }

    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    @Test("BO beats random search at equal budgets: Branin (20 evaluations) and Hartmann-6 (30), median of 3 seeds")
    func beatsRandom() {
        let seeds: [UInt64] = [1, 2, 3]
        let boBranin = median(seeds.map { bestFound(branin, dimensions: 2, budget: 20, seed: $0, random: false) })
        let rsBranin = median(seeds.map { bestFound(branin, dimensions: 2, budget: 20, seed: $0, random: true) })
        print("Branin: BO \(boBranin), random \(rsBranin) (minimum 0.397887)")
        #expect(boBranin < rsBranin)
        #expect(boBranin < 1.0)
        let boHartmann = median(seeds.map { bestFound(hartmann6, dimensions: 6, budget: 30, seed: $0, random: false) })
        let rsHartmann = median(seeds.map { bestFound(hartmann6, dimensions: 6, budget: 30, seed: $0, random: true) })
        print("Hartmann-6: BO \(boHartmann), random \(rsHartmann) (minimum -3.32237)")
        #expect(boHartmann < rsHartmann)
    }

    @Test("failed evaluations enter at a penalty and the study goes on; the same observations give the same suggestion")
    func failuresAndResume() {
        var bo = BayesianOptimizer(space: [SearchDimension(name: "lr", low: 1e-4, high: 1, scale: .log)], initialRandom: 3, seed: 5)
        for k in 0..<6 {
            let x = bo.suggest().point
            bo.observe(x, k == 1 ? nil : branin([x[0], 0.5]))
        }
        #expect(bo.values.filter { $0 == nil }.count == 1)
        var resumed = BayesianOptimizer(space: bo.space, initialRandom: 3, seed: 5)
        for (p, v) in zip(bo.points, bo.values) { resumed.observe(p, v) }
        #expect(resumed.suggest().point == bo.suggest().point)
        #expect(bo.suggest().expectedImprovement != nil)
        // Decoding respects the scale.
        let lr = bo.space[0]
        #expect(abs(lr.value(0.5) - 0.01) < 1e-12 && abs(lr.unit(0.01) - 0.5) < 1e-12)
    }
}
