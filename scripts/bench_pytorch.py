#!/usr/bin/env python3
"""PyTorch reference for one GTN meta-iteration at the official MNIST config.

Mirrors `gtn-bench meta` (Sources/gtn-bench/main.swift, Sources/GTN/MetaTrainer.swift,
Sources/GTN/Models.swift) so the two can be timed side by side on the same machine:

  * generator: Linear(128 noise + 10 one-hot -> 1024, no bias) BN LeakyReLU(0.1);
    Linear(1024 -> 128*7*7, no bias) BN LeakyReLU; reshape (128, 7, 7);
    nearest upsample x2, reflection pad 1, conv3x3 128->64 (no bias), BN, LeakyReLU;
    nearest upsample x2, reflection pad 1, conv3x3 64->1 (bias), tanh, x2.
    Weight norm (torch.nn.utils.parametrizations.weight_norm) on every linear/conv; BN with batch
    statistics, scale and shift, no running statistics (the Swift generator keeps none either).
    Like the Swift trainer, which folds the generator's weight norm once per meta-iteration, the
    normalised weights are computed once per meta-iteration (parametrize.cached()); pass
    --no-wn-cache to recompute them at every inner step.
  * learner base_fc with functional weights, re-initialised every meta-iteration (Kaiming normal,
    weight-norm gain g = ||w||): conv3x3(1->64, pad 1, no bias) maxpool(3, 2, 1) mean-only BN
    (x - batch mean + bias) LeakyReLU(0.1); conv3x3(64->128) maxpool BN LeakyReLU; flatten;
    Linear(6272 -> 256, no bias) BN LeakyReLU; Linear(256 -> 10, bias); log_softmax.
    Weight norm w * g / ||w|| per output unit, done functionally. As in the Swift code
    (Layers.conv / Layers.linear), convolutions normalise the weight, and a linear layer scales
    whichever is smaller, the weight or its output (fc1 at B=128: the output) -- the same function.
  * full curriculum: a learned noise tensor [T, B, 128]; labels index mod 10, one-hot.
    Per-step learned inner learning rate and momentum, log-parameterised (init 0.02 and 0.5).
  * inner loop: T steps of SGD with momentum (v = m v + g; w = w - lr v), gradients by
    torch.autograd.grad(..., create_graph=True); no checkpointing: the whole unrolled graph is kept.
  * meta-loss: NLL of the trained learner on a "real" batch of B images, its batch norms using the
    last inner step's batch means (as the Swift trainer scores it). The images are random normal
    and the labels index mod 10: shapes are all that matter for timing (so the meta-loss is
    meaningless); this is what `gtn-bench meta` feeds too.
  * meta_loss.backward() and one Adam step (lr 0.02, betas (0.9, 0.999), eps 1e-8) on generator +
    curriculum + log inner lr/momentum. (The Swift trainer's cosine schedule is at its base value
    at iteration 0 and changes nothing measurable.)

Each meta-iteration is timed whole (learner init, unroll, meta-loss, backward, Adam step). The
first is a warm-up; the median of the others is reported, with peak RSS (ru_maxrss).

Run with the venv's python, e.g.
  /tmp/torchenv/bin/python scripts/bench_pytorch.py --steps 32 --batch 128 --iterations 3
"""

import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

NOISE = 128
CLASSES = 10
SLOPE = 0.1


def kaiming_(w: torch.Tensor) -> torch.Tensor:
    """N(0, 2 / fan_in) in place, fan_in = every dim but the first (PyTorch layout [out, in, ...])."""
    fan_in = w[0].numel()
    with torch.no_grad():
        return w.normal_(0.0, math.sqrt(2.0 / fan_in))


# ---------------------------------------------------------------------------------------------
# Generator


class Generator(nn.Module):
    def __init__(self, noise=NOISE, classes=CLASSES, hidden=1024, channels=128, image_channels=1, side=7):
        super().__init__()
        self.channels, self.side = channels, side
        self.fc1 = nn.Linear(noise + classes, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden, track_running_stats=False)
        self.fc2 = nn.Linear(hidden, channels * side * side, bias=False)
        self.bn2 = nn.BatchNorm1d(channels * side * side, track_running_stats=False)
        self.conv1 = nn.Conv2d(channels, channels // 2, 3, padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(channels // 2, track_running_stats=False)
        self.conv2 = nn.Conv2d(channels // 2, image_channels, 3, padding=0, bias=True)
        for layer in (self.fc1, self.fc2, self.conv1, self.conv2):
            kaiming_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
            # g initialised to ||w|| per output unit (dim 0), v = w.
            weight_norm(layer, name="weight", dim=0)

    def forward(self, z, y):
        n = z.shape[0]
        x = F.leaky_relu(self.bn1(self.fc1(torch.cat([z, y], dim=1))), SLOPE)
        x = F.leaky_relu(self.bn2(self.fc2(x)), SLOPE)
        x = x.view(n, self.channels, self.side, self.side)
        x = F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (1, 1, 1, 1), mode="reflect")
        x = F.leaky_relu(self.bn3(self.conv1(x)), SLOPE)
        x = F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (1, 1, 1, 1), mode="reflect")
        return torch.tanh(self.conv2(x)) * 2


# ---------------------------------------------------------------------------------------------
# Learner base_fc, functional

LEARNER_NAMES = [
    "conv1.v", "conv1.g", "bn1.bias",
    "conv2.v", "conv2.g", "bn2.bias",
    "fc1.v", "fc1.g", "bn3.bias",
    "fc2.v", "fc2.g", "fc2.bias",
]


def learner_init(conv1=64, conv2=128, hidden=256, side=7):
    """Fresh base_fc weights (leaf tensors requiring grad), in LEARNER_NAMES order."""

    def wn_pair(shape):
        v = kaiming_(torch.empty(shape))
        g = v.flatten(1).norm(dim=1).view([shape[0]] + [1] * (len(shape) - 1))
        return [v, g]

    p = []
    p += wn_pair([conv1, 1, 3, 3]) + [torch.zeros(1, conv1, 1, 1)]
    p += wn_pair([conv2, conv1, 3, 3]) + [torch.zeros(1, conv2, 1, 1)]
    p += wn_pair([hidden, conv2 * side * side]) + [torch.zeros(1, hidden)]
    p += wn_pair([CLASSES, hidden]) + [torch.zeros(CLASSES)]
    return [t.requires_grad_() for t in p]


def wn_conv(x, v, g):
    """conv3x3 (pad 1) with weight norm: weight v * g / ||v|| per output channel."""
    norm = v.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
    return F.conv2d(x, v * (g / norm), padding=1)


def wn_linear(x, v, g, bias=None):
    """Linear with weight norm (v: [out, in], g: [out, 1]); scales the smaller of weight and output."""
    norm = v.pow(2).sum(dim=1, keepdim=True).sqrt()  # [out, 1]
    if x.shape[0] < v.shape[1]:
        y = F.linear(x, v) * (g / norm).view(1, -1)
    else:
        y = F.linear(x, v * (g / norm))
    return y if bias is None else y + bias


def mean_only_bn(x, bias, means, stored):
    """x - mean + bias over every axis but 1; batch mean (appended to `means`) unless `stored`."""
    if stored is not None:
        mean = stored[len(means)]
    else:
        mean = x.mean(dim=[d for d in range(x.dim()) if d != 1], keepdim=True)
    means.append(mean)
    return x - mean + bias


def learner_forward(p, x, stored_means=None):
    """Log-probabilities and the batch means used (training mode unless stored_means is given)."""
    (c1v, c1g, b1, c2v, c2g, b2, f1v, f1g, b3, f2v, f2g, f2b) = p
    means = []
    h = F.max_pool2d(wn_conv(x, c1v, c1g), 3, stride=2, padding=1)
    h = F.leaky_relu(mean_only_bn(h, b1, means, stored_means), SLOPE)
    h = F.max_pool2d(wn_conv(h, c2v, c2g), 3, stride=2, padding=1)
    h = F.leaky_relu(mean_only_bn(h, b2, means, stored_means), SLOPE)
    h = wn_linear(h.flatten(1), f1v, f1g)
    h = F.leaky_relu(mean_only_bn(h, b3, means, stored_means), SLOPE)
    return F.log_softmax(wn_linear(h, f2v, f2g, f2b), dim=1), means


# ---------------------------------------------------------------------------------------------
# Meta-iteration


class Teacher:
    def __init__(self, steps, batch, noise=NOISE, lr=0.02, momentum=0.5, meta_lr=0.02):
        self.steps, self.batch = steps, batch
        self.generator = Generator(noise=noise)
        self.curriculum = nn.Parameter(torch.randn(steps, batch, noise))
        self.log_lr = nn.Parameter(torch.full((steps,), math.log(lr)))
        self.log_momentum = nn.Parameter(torch.full((steps,), math.log(momentum)))
        self.labels = F.one_hot(torch.arange(batch) % CLASSES, CLASSES).float()
        self.groups = {
            "generator": list(self.generator.parameters()),
            "curriculum": [self.curriculum],
            "log_lr": [self.log_lr],
            "log_momentum": [self.log_momentum],
        }
        params = [q for g in self.groups.values() for q in g]
        self.optimizer = torch.optim.Adam(params, lr=meta_lr, betas=(0.9, 0.999), eps=1e-8)

    def unroll(self, weights):
        velocity = [torch.zeros_like(w) for w in weights]
        means = None
        for t in range(self.steps):
            x = self.generator(self.curriculum[t], self.labels)
            log_probs, means = learner_forward(weights, x)
            loss = -(log_probs * self.labels).sum() / self.batch
            grads = torch.autograd.grad(loss, weights, create_graph=True)
            lr, m = self.log_lr[t].exp(), self.log_momentum[t].exp()
            velocity = [v * m + g for v, g in zip(velocity, grads)]
            weights = [w - v * lr for w, v in zip(weights, velocity)]
        return weights, means

    def meta_iteration(self, real_images, real_labels, cache_weight_norm=True):
        """One meta-iteration; returns (meta-loss, accuracy, {group: meta-gradient norm})."""
        self.optimizer.zero_grad(set_to_none=True)
        weights = learner_init()
        if cache_weight_norm:
            # The generator's normalised weights are computed once and reused by every inner
            # step (the Swift trainer folds them once per meta-iteration the same way).
            with parametrize.cached():
                weights, means = self.unroll(weights)
        else:
            weights, means = self.unroll(weights)
        log_probs, _ = learner_forward(weights, real_images, stored_means=means)
        meta_loss = F.nll_loss(log_probs, real_labels)
        accuracy = (log_probs.argmax(dim=1) == real_labels).float().mean().item()
        meta_loss.backward()
        norms = {}
        for name, group in self.groups.items():
            sq = sum(float(q.grad.pow(2).sum()) if q.grad is not None else 0.0 for q in group)
            norms[name] = math.sqrt(sq)
        self.optimizer.step()
        return meta_loss.item(), accuracy, norms


def peak_rss_gb():
    # ru_maxrss is in KiB on Linux; printed in 1e9 bytes like `gtn-bench meta` (VmHWM).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=32, help="inner steps T")
    ap.add_argument("--batch", type=int, default=128, help="inner batch B (also the meta batch)")
    ap.add_argument("--iterations", type=int, default=3,
                    help="meta-iterations to time; the first is a warm-up, the median (upper, as gtn-bench) of the rest is printed")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-wn-cache", action="store_true",
                    help="recompute the generator's weight norm at every inner step")
    args = ap.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"T={args.steps} B={args.batch}, no checkpointing, create_graph=True, "
          f"generator weight norm {'recomputed per step' if args.no_wn_cache else 'cached per meta-iteration'}")

    teacher = Teacher(args.steps, args.batch)
    times = []
    for i in range(args.iterations):
        # "Real" batch: random normal images (timing only), labels index mod 10.
        real_images = torch.randn(args.batch, 1, 28, 28)
        real_labels = torch.arange(args.batch) % CLASSES
        start = time.perf_counter()
        loss, acc, norms = teacher.meta_iteration(real_images, real_labels, cache_weight_norm=not args.no_wn_cache)
        seconds = time.perf_counter() - start
        grads = ", ".join(f"{k} {v:.3e}" for k, v in norms.items())
        print(f"meta-iteration {i}: {seconds:.2f} s, meta-loss {loss:.4f}, peak RSS {peak_rss_gb():.2f} GB, "
              f"|meta-grad| {grads}", flush=True)
        if i > 0 or args.iterations == 1:
            times.append(seconds)
    print(f"T={args.steps} B={args.batch} torch {torch.__version__} threads {torch.get_num_threads()}: "
          f"median {statistics.median_high(times):.2f} s per meta-iteration "
          f"(of {len(times)}{', first excluded as warm-up' if args.iterations > 1 else ''}), "
          f"peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
