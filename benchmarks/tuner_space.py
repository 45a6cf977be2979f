"""Benchmark of the tuner's budget check: configurations checked per second (goal >= 10,000/s),
the share of the raw search space within the budget, and feasible proposals per second.

    python benchmarks/tuner_space.py [--samples 100000] [--repeats 3] [--no-oracle]

The raw space is every architecture the space's dimensions allow (stages x blocks x widths
per stage x kernel sizes x block orders); its feasible share is estimated from uniform
samples of it, with a 95% interval. No TensorFlow model is built; `--no-oracle` skips the
one part that imports Keras Tuner (and so TensorFlow).
"""
import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from keras_resnet_cifar.tuning.space import SearchSpace  # noqa: E402

SPACES = {
    "default (4 stages, blocks 1-8, 10 widths, 5M)": {},
    "open (2-4 stages, orders a-e, kernels 3/5, 5M)": {
        "stages": (2, 3, 4), "block_orders": tuple("abcde"), "kernel_sizes": (3, 5)},
    "default, 1M budget": {"max_params": 1_000_000},
}


def raw_size(space):
    per_stage = (space.blocks[1] - space.blocks[0] + 1) * len(space.widths)
    return sum(per_stage ** s for s in space.stages) * len(space.kernel_sizes) * len(space.block_orders)


def raw_samples(space, count, seed=0):
    """Uniform samples of the raw architecture space, as hyperparameter-value dicts."""
    rng = np.random.default_rng(seed)
    per_stage = (space.blocks[1] - space.blocks[0] + 1) * len(space.widths)
    weights = np.array([float(per_stage) ** s for s in space.stages])
    stages = rng.choice(space.stages, size=count, p=weights / weights.sum())
    samples = []
    for s in stages:
        values = dict(space.default, stages=int(s),
                      kernel_size=int(rng.choice(space.kernel_sizes)),
                      block_order=str(rng.choice(space.block_orders)))
        for i in range(1, int(s) + 1):
            values[f"blocks_{i}"] = int(rng.integers(space.blocks[0], space.blocks[1] + 1))
            values[f"channels_{i}"] = int(rng.choice(space.widths))
        samples.append(values)
    return samples


def check_rate(space, samples, repeats):
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        feasible = sum(space.is_feasible(v) for v in samples)
        rates.append(len(samples) / (time.perf_counter() - start))
    return rates, feasible


def oracle_rate(space, proposals=300):
    from keras_resnet_cifar.tuning.oracle import FeasibleRandomSearchOracle

    oracle = FeasibleRandomSearchOracle(space, max_trials=proposals, seed=1)
    start = time.perf_counter()
    for i in range(proposals):
        assert space.is_feasible(oracle.populate_space(str(i))["values"])
    return proposals / (time.perf_counter() - start), oracle.rejected


def _cpu():
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-oracle", action="store_true", help="skip the Keras Tuner oracle timing")
    args = parser.parse_args(argv)
    print(f"# {_cpu()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.samples:,} samples, {args.repeats} repeats")
    print("| space | raw size | checks/s (mean ± sd) | feasible share (95% CI) | feasible proposals/s (draws rejected) |")
    print("|---|---|---|---|---|")
    for name, kwargs in SPACES.items():
        space = SearchSpace.create(**kwargs)
        samples = raw_samples(space, args.samples)
        rates, feasible = check_rate(space, samples, args.repeats)
        share = feasible / len(samples)
        half = 1.96 * math.sqrt(share * (1 - share) / len(samples))
        oracle = "skipped"
        if not args.no_oracle:
            per_s, rejected = oracle_rate(space)
            oracle = f"{per_s:,.0f} ({rejected:,} for 300)"
        sd = statistics.stdev(rates) if len(rates) > 1 else 0.0
        print(f"| {name} | {raw_size(space):.3g} | {statistics.mean(rates):,.0f} ± {sd:,.0f} | "
              f"{100 * share:.2f}% ± {100 * half:.2f} | {oracle} |")


if __name__ == "__main__":
    main()
