#!/usr/bin/env python3
"""Records trajectories of gymnasium's CartPole-v1 and MountainCar-v0 (the environments GTN's Swift
versions must match) as small JSON fixtures for Tests/GTNRLTests. Run once with gymnasium installed
(pip install gymnasium); the fixtures are committed, this script's environment is not.
Each episode: the float64 state after reset, then per step the action, the float64 state after it,
the reward and the terminated/truncated flags (truncation from the registered TimeLimit)."""
import json, sys
import numpy as np
import gymnasium as gym

def record(name, policies, seeds):
    episodes = []
    for seed, policy in zip(seeds, policies):
        env = gym.make(name)
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        ep = {"seed": seed, "initial": [float(v) for v in env.unwrapped.state], "steps": []}
        while True:
            state = np.array(env.unwrapped.state, dtype=np.float64)
            action = int(policy(state, rng))
            _, reward, terminated, truncated, _ = env.step(action)
            ep["steps"].append({"action": action, "state": [float(v) for v in env.unwrapped.state],
                                "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated)})
            if terminated or truncated:
                break
        episodes.append(ep)
    return {"environment": name, "gymnasium": gym.__version__, "episodes": episodes}

random2 = lambda s, rng: rng.integers(2)
# A balancing controller that survives to the 500-step limit (checks truncation).
balance = lambda s, rng: 1 if s[2] + 0.3 * s[3] + 0.01 * s[0] + 0.1 * s[1] > 0 else 0
random3 = lambda s, rng: rng.integers(3)
# Push along the velocity: reaches the goal (checks termination at the flag).
energy = lambda s, rng: 2 if s[1] >= 0 else 0

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/GTNRLTests/Fixtures"
json.dump(record("CartPole-v1", [random2, random2, random2, balance], [0, 1, 2, 3]), open(f"{out}/cartpole-v1.json", "w"))
json.dump(record("MountainCar-v0", [random3, energy], [0, 1]), open(f"{out}/mountaincar-v0.json", "w"))
