import Foundation
import GTNTensor

/// gymnasium's MountainCar-v0 (Moore 1990): accelerate left (0), not at all (1) or right (2) to
/// rock an under-powered car up to the flag at x = 0.5. Reward -1 per step, terminated at the
/// flag (velocity >= 0), truncated at 200 steps; initial x U(-0.6, -0.4), velocity 0.
public struct MountainCar: Environment {
    public let name = "MountainCar-v0"
    public let observationSize = 2
    public let actionCount = 3
    public let maxEpisodeSteps = 200

    static let minPosition = -1.2, maxPosition = 0.6, maxSpeed = 0.07, goalPosition = 0.5
    static let force = 0.001, gravity = 0.0025

    public init() {}

    public func initialState(_ rng: inout RandomSource) -> [Double] {
        [-0.6 + 0.2 * rng.uniform(Double.self), 0]
    }

    public func step(_ s: [Double], action: Int) -> (state: [Double], reward: Double, terminated: Bool) {
        var (position, velocity) = (s[0], s[1])
        velocity += Double(action - 1) * Self.force + Foundation.cos(3 * position) * -Self.gravity
        velocity = min(max(velocity, -Self.maxSpeed), Self.maxSpeed)
        position += velocity
        position = min(max(position, Self.minPosition), Self.maxPosition)
        if position == Self.minPosition && velocity < 0 { velocity = 0 }
        return ([position, velocity], -1, position >= Self.goalPosition && velocity >= 0)
    }
}
