"""Training images/s of our Keras network against the PyTorch peer of the same network.

Each measurement runs in a fresh process; Keras and PyTorch alternate, and the
medians of the repeats and their ratio are printed (this machine is noisy: compare
ratios measured in one run).

    python benchmarks/train_step.py --preset resnet24 --repeats 3 \
        --peer-python /tmp/torch-peer/bin/python --peer ../shared/peers/torch_resnet.py

`--recipe-minutes 15` measures instead the fast recipe's network as `train()` builds and compiles it
(the airbench94 topology, its GroupSGD and loss; variants plain = float32 and bf16), against the
peer's `bench --net airbench94` (with `--bf16` for our bf16).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # gelu_variants, op_profile

VARIANTS = ("plain", "xla", "keras_bn", "bf16")
from gelu_variants import VARIANTS as GELUS  # noqa: E402 (imports Keras only when patching)


def keras_setup(preset, batch, variant, recipe_minutes=None, steps_per_epoch=8, steps_per_execution=1,
                gelu="package"):
    """(model, dataset, label): the network compiled as measured, and a cached dataset of random batches;
    `gelu`: a variant of gelu_variants.py."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import gelu_variants
    from keras_resnet_cifar import PRESETS, build_resnet

    keras.utils.set_random_seed(0)
    gelu_variants.patch(gelu)
    if variant == "keras_bn":  # Keras's own (unfused) BatchNormalization, for comparison
        from keras_resnet_cifar import layers

        layers.FusedBatchNormalization = keras.layers.BatchNormalization
    if variant == "bf16":  # bfloat16 compute, float32 variables (oneDNN uses AVX512_BF16 where present)
        keras.config.set_dtype_policy("mixed_bfloat16")
    if recipe_minutes:
        from keras_resnet_cifar.recipes import recipe_config
        from keras_resnet_cifar.training.train import build_model, compile_model

        xla = variant == "xla" or keras.backend.backend() == "jax"  # JAX: XLA always (off = eager)
        config = recipe_config("fast", recipe_minutes).replace(
            optim={"batch_size": batch}, jit_compile="on" if xla else "off",
            steps_per_execution=steps_per_execution)
        model = compile_model(build_model(config, "mixed_bfloat16" if variant == "bf16" else "float32"), config,
                              steps_per_epoch=steps_per_epoch)
        preset = f"fast{recipe_minutes}"
    else:
        model = build_resnet(**PRESETS[preset])
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
            jit_compile=variant == "xla" or keras.backend.backend() == "jax", steps_per_execution=steps_per_execution,
        )
    images = np.random.randn(batch * 4, 32, 32, 3).astype("float32")
    labels = keras.utils.to_categorical(np.random.randint(0, 10, batch * 4), 10)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().repeat()
    return model, data, preset


def measure_keras(preset, batch, steps, warmup, variant, recipe_minutes=None, steps_per_execution=1, gelu="package"):
    """One in-process measurement: steady-state training images/s with model.fit.

    With `steps_per_execution` k, `warmup` and `steps` are rounded up to multiples of k (the clock
    ticks once per compiled call).
    """
    import keras
    import tensorflow as tf

    k = steps_per_execution
    warmup, steps = -(-warmup // k) * k, -(-steps // k) * k
    model, data, preset = keras_setup(preset, batch, variant, recipe_minutes, warmup + steps, k, gelu)
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            ends.append(time.perf_counter())

    model.fit(data, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[Clock()])
    seconds = ends[-1] - ends[warmup // k - 1]
    return {"framework": f"keras {keras.__version__} / tf {tf.__version__}", "variant": variant,
            "preset": preset, "batch": batch, "steps_per_execution": k, "gelu": gelu,
            "train_img_s": round(batch * steps / seconds, 2)}


def _run(command, env=None):
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--peer-python", help="python with torch installed (see shared/peers/README.md)")
    parser.add_argument("--peer", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "peers", "torch_resnet.py"))
    parser.add_argument("--recipe-minutes", type=int, help="measure the fast recipe's network of this tier")
    parser.add_argument("--steps-per-execution", type=int, default=1, help="batches per compiled call (ours)")
    parser.add_argument("--gelu", choices=GELUS, default="package", help="GELU variant (gelu_variants.py), ours")
    parser.add_argument("--env", nargs="+", default=[], metavar="KEY=VALUE",
                        help="environment of our workers, e.g. TF_NUM_INTRAOP_THREADS=2")
    parser.add_argument("--op-profile", action="store_true",
                        help="then print where a step's time goes, per op family (benchmarks/op_profile.py)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(measure_keras(args.preset, args.batch, args.steps, args.warmup, args.worker,
                                       args.recipe_minutes, args.steps_per_execution, args.gelu)))
        return

    env = {**os.environ, **dict(item.split("=", 1) for item in args.env)}
    net = peer_net(args.preset, args.recipe_minutes)
    results = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):
        peer_done = set()
        for variant in args.variants:
            base = [sys.executable, __file__, "--preset", args.preset, "--batch", str(args.batch),
                    "--steps", str(args.steps), "--warmup", str(args.warmup),
                    "--steps-per-execution", str(args.steps_per_execution), "--gelu", args.gelu]
            if args.recipe_minutes:
                base += ["--recipe-minutes", str(args.recipe_minutes)]
            results[variant].append(_run(base + ["--worker", variant], env)["train_img_s"])
            partner = _partner(variant)
            if args.peer_python and partner not in peer_done:  # the same network in PyTorch, right after
                peer = [args.peer_python, args.peer, "bench", "--batch", str(args.batch), "--steps", str(args.steps),
                        "--warmup", str(args.warmup), *net] + (["--bf16"] if partner == "torch_bf16" else [])
                results.setdefault(partner, []).append(_run(peer)["train_img_s"])
                peer_done.add(partner)
    medians = {name: statistics.median(values) for name, values in results.items()}
    label = f"fast{args.recipe_minutes}" if args.recipe_minutes else args.preset
    for name, values in results.items():
        partner = _partner(name)
        ratio = f"  {medians[name] / medians[partner]:.2f}x torch" if partner in medians and name != partner else ""
        print(f"{label} {name:>10}: median {medians[name]:8.2f} img/s  runs {values}{ratio}")
    if args.op_profile:
        import op_profile

        for variant in [v for v in args.variants if v in ("bf16", "plain")]:
            op_profile.main(["--preset", args.preset, "--batch", str(args.batch), "--variant", variant,
                             *(["--recipe-minutes", str(args.recipe_minutes)] if args.recipe_minutes else []),
                             *(["--peer-python", args.peer_python, "--peer", args.peer] if args.peer_python else []),
                             *(["--env", *args.env] if args.env else [])])


def peer_net(preset, recipe_minutes=None):
    """The peer's `bench` arguments naming the same network: an airbench topology or blocks/channels."""
    from keras_resnet_cifar import PRESETS

    if not recipe_minutes:
        spec = PRESETS[preset]
        return ["--blocks", *map(str, spec["blocks"]), "--channels", *map(str, spec["channels"])]
    from keras_resnet_cifar.recipes import recipe_config

    widths = {(64, 256, 256): "airbench94", (128, 384, 384): "airbench95"}
    channels = recipe_config("fast", recipe_minutes).model.channels
    if channels not in widths:
        raise SystemExit(f"--recipe-minutes {recipe_minutes}: widths {channels} have no peer topology")
    return ["--net", widths[channels]]


def _partner(variant):
    """The peer's run our variant is compared with: PyTorch bf16 autocast for bf16, float32 otherwise."""
    return variant if variant.startswith("torch") else ("torch_bf16" if variant == "bf16" else "torch_f32")


if __name__ == "__main__":
    main()
