import Foundation
import GTNAutodiff
import GTNNN
import GTNRL
import GTNTensor
import Testing

@Suite("GTN-RL")
struct GTNRLTests {
    @Test("the meta-gradient through the inner SGD step matches finite differences (Float64, fixed rollouts)")
    func metaGradient() {
        var settings = GTNRLTeacher<CartPole>.Settings()
        (settings.syntheticStates, settings.noise, settings.generatorHidden) = (6, 3, 4)
        let specs = GTNRLTeacher<CartPole>.generatorSpecs(settings, CartPole())
        let policyNet = MLP(inputs: 4, hidden: [5], outputs: 2)
        var rng = RandomSource(seed: 12)
        let generator = ParameterList<Double>(specs: specs, rng: &rng).values.map(\.value)
        let noise = Tensor<Double>.randomNormal([6, 3], using: &rng)
        let logLR = Tensor<Double>(shape: [1], scalars: [Foundation.log(0.3)])
        let policyInit = ParameterList<Double>(specs: policyNet.specs, rng: &rng).values.map(\.value)
        // A fixed "rollout": states, the actions taken and their advantages.
        let observations = Tensor<Double>.randomNormal([7, 4], std: 0.1, using: &rng)
        let actions = [0, 1, 1, 0, 1, 0, 0]
        let advantages = Tensor<Double>.randomNormal([7], using: &rng)
        let targets: Tensor<Double> = oneHot((0..<6).map { $0 % 2 }, classes: 2)
        let report = DerivativeCheck.gradient(
            of: { teacher in
                let trained = GTNRLTeacher<CartPole>.trainedPolicy(
                    teacher, policyInit: policyInit.map { Variable($0, requiresGrad: true) }, policyNet: policyNet,
                    generatorSpecs: specs, targets: targets)
                return GTNRLTeacher<CartPole>.metaLoss(
                    trained, policyNet: policyNet, observations: observations, actions: actions,
                    advantages: advantages)
            }, at: generator + [noise, logLR])
        #expect(report.maxError < 1e-6, "\(report)")
    }

    @Test("a meta-iteration changes the teacher, counts its environment steps, and a fresh policy trained one step acts")
    func step() {
        var settings = GTNRLTeacher<CartPole>.Settings()
        (settings.syntheticStates, settings.rolloutEnvironments, settings.rolloutSteps) = (32, 2, 20)
        var teacher = GTNRLTeacher(CartPole(), settings: settings)
        let before = teacher.teacher
        let m = teacher.step()
        #expect(m.environmentSteps > 0 && m.environmentSteps <= 40)
        #expect(teacher.environmentSteps == m.environmentSteps)
        #expect(zip(before, teacher.teacher).contains { $0 != $1 })
        let fresh = teacher.freshTrainedPolicy(seed: 3)
        let r = evaluatePolicy(CartPole(), net: teacher.policyNet, parameters: fresh, episodes: 4, seed: 1)
        #expect(r >= 8 && r <= 500)
    }

    @Test("an evolution-strategies step moves the teacher and counts the steps of all its perturbations' rollouts")
    func esStep() {
        var settings = GTNRLTeacher<CartPole>.Settings()
        (settings.syntheticStates, settings.rolloutEnvironments, settings.rolloutSteps) = (16, 1, 10)
        var teacher = GTNRLTeacher(CartPole(), settings: settings)
        let before = teacher.teacher
        let m = teacher.esStep(pairs: 2, sigma: 0.05)
        #expect(m.environmentSteps >= 4 * 8 && m.environmentSteps <= 4 * 10, "4 rollouts of 8 to 10 steps")
        #expect(zip(before, teacher.teacher).contains { $0 != $1 })
        #expect(m.metaLoss.isNaN && m.rolloutReturn >= 8)
    }
}
