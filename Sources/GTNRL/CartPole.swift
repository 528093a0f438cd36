import Foundation
import GTNTensor

/// gymnasium's CartPole-v1 (Barto, Sutton & Anderson 1983): push a cart left (0) or right (1) by
/// 10 N to keep a pole upright. Euler integration with gymnasium's update order; the episode
/// terminates when |x| > 2.4 or |θ| > 12°, reward 1 for every step including the last, truncated
/// at 500 steps; initial state U(-0.05, 0.05)^4.
public struct CartPole: Environment {
    public let name = "CartPole-v1"
    public let observationSize = 4
    public let actionCount = 2
    public let maxEpisodeSteps = 500

    static let gravity = 9.8, massCart = 1.0, massPole = 0.1
    static let totalMass = massPole + massCart
    static let length = 0.5  // half the pole's length
    static let poleMassLength = massPole * length
    static let forceMagnitude = 10.0, tau = 0.02
    static let thetaThreshold = 12 * 2 * Double.pi / 360, xThreshold = 2.4

    public init() {}

    public func initialState(_ rng: inout RandomSource) -> [Double] {
        (0..<4).map { _ in -0.05 + 0.1 * rng.uniform(Double.self) }
    }

    public func step(_ s: [Double], action: Int) -> (state: [Double], reward: Double, terminated: Bool) {
        let (x, xDot, theta, thetaDot) = (s[0], s[1], s[2], s[3])
        let force = action == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let (cosTheta, sinTheta) = (Foundation.cos(theta), Foundation.sin(theta))
        let temp = (force + Self.poleMassLength * thetaDot * thetaDot * sinTheta) / Self.totalMass
        let thetaAcc =
            (Self.gravity * sinTheta - cosTheta * temp)
            / (Self.length * (4.0 / 3.0 - Self.massPole * cosTheta * cosTheta / Self.totalMass))
        let xAcc = temp - Self.poleMassLength * thetaAcc * cosTheta / Self.totalMass
        let next = [
            x + Self.tau * xDot, xDot + Self.tau * xAcc, theta + Self.tau * thetaDot, thetaDot + Self.tau * thetaAcc,
        ]
        let terminated =
            next[0] < -Self.xThreshold || next[0] > Self.xThreshold || next[2] < -Self.thetaThreshold
            || next[2] > Self.thetaThreshold
        return (next, 1, terminated)
    }
}
