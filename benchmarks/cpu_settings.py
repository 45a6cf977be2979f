"""Candidate settings for our training step against a baseline, in one run (issue 22).

    python benchmarks/cpu_settings.py --recipe-minutes 15 --batch 512 --variant bf16 --repeats 3 \\
        base "interop1 env:TF_NUM_INTEROP_THREADS=1" "gelu-f32 gelu:f32" "spe4 spe:4"

Each candidate is a name and options: `env:KEY=VALUE` (the worker's environment, e.g.
env:KERAS_BACKEND=jax), `gelu:NAME` (gelu_variants.py), `spe:N` (steps_per_execution), `batch:N`,
`variant:NAME` (bf16 or plain = float32; default --variant). Every measurement is a fresh
train_step.py worker (the network, optimizer and loss `train()` compiles, random data); candidates
alternate within each repeat; the medians and their ratio to the first candidate are printed.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train_step import _run  # noqa: E402


def parse_candidate(text):
    """(name, env, worker arguments) of one candidate string."""
    name, *options = text.split()
    env, argv = {}, []
    for option in options:
        key, _, value = option.partition(":")
        if key == "env":
            env.update([value.split("=", 1)])
        elif key in ("gelu", "spe", "batch", "variant"):
            argv += [{"gelu": "--gelu", "spe": "--steps-per-execution", "batch": "--batch", "variant": "--worker"}[key],
                     value]
        else:
            raise SystemExit(f"candidate {name!r}: option {option!r}; accepted: env:K=V, gelu:NAME, spe:N, batch:N, "
                             f"variant:NAME")
    return name, env, argv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help='"NAME [env:K=V] [gelu:NAME] [spe:N] [batch:N]"')
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--recipe-minutes", type=int)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--variant", default="bf16")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    candidates = [parse_candidate(text) for text in args.candidates]
    base = [sys.executable, os.path.join(HERE, "train_step.py"), "--preset", args.preset, "--batch", str(args.batch),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--worker", args.variant]
    if args.recipe_minutes:
        base += ["--recipe-minutes", str(args.recipe_minutes)]
    results = {name: [] for name, _, _ in candidates}
    for _ in range(args.repeats):
        for name, env, argv in candidates:
            results[name].append(_run(base + argv, {**os.environ, **env})["train_img_s"])
    medians = {name: statistics.median(values) for name, values in results.items()}
    first = candidates[0][0]
    for name, values in results.items():
        print(f"{name:>20}: median {medians[name]:8.2f} img/s  {medians[name] / medians[first]:.3f}x {first}  "
              f"runs {values}")


if __name__ == "__main__":
    main()
