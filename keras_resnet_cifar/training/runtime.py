"""Where and how training runs: devices, mixed precision, XLA, tf.distribute, determinism.

Nothing here runs at import time; `train` calls these in order and undoes the process-wide
settings (dtype policy, op determinism) it changed.
"""
import contextlib
import json
import os
import platform

import keras
import tensorflow as tf

from keras_resnet_cifar.config import PRECISIONS, STRATEGIES, SWITCHES  # noqa: F401  (the accepted names)


def describe_device():
    """One line naming the accelerator(s) or CPU, e.g. "1 x NVIDIA H100 80GB HBM3 (compute 9.0)"."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            details = tf.config.experimental.get_device_details(gpu)
            capability = details.get("compute_capability")
            suffix = f" (compute {capability[0]}.{capability[1]})" if capability else ""
            names.append(details.get("device_name", gpu.name) + suffix)
        return ", ".join(f"{names.count(n)} x {n}" for n in dict.fromkeys(names))
    return f"CPU: {_cpu_name()} ({os.cpu_count()} logical cores)"


def precision_policy(setting="auto"):
    """The Keras dtype policy to train under, for `--mixed-precision SETTING`.

    "on": "mixed_float16" (float16 compute, float32 variables, loss scaling); "auto": the
    same where every GPU has compute capability >= 7.0, else "float32"; "off": "float32";
    "bf16": "mixed_bfloat16" (no loss scaling needed), fast on CPUs with AVX512_BF16 or AMX
    (1.7x on resnet24 here: benchmarks/RESULTS.md), on TPUs and on Ampere or newer GPUs.

    Args:
        setting: "auto", "on", "off" or "bf16".
    """
    _check_choice("mixed_precision", setting, PRECISIONS)
    if setting == "auto":
        gpus = tf.config.list_physical_devices("GPU")
        capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]
        setting = "on" if gpus and all(c is not None and tuple(c) >= (7, 0) for c in capabilities) else "off"
    return {"on": "mixed_float16", "off": "float32", "bf16": "mixed_bfloat16"}[setting]


def jit_compile_arg(setting="auto"):
    """`Model.compile`'s jit_compile for "auto" (Keras decides: XLA on GPU, not on CPU or under
    op determinism), "on" or "off"."""
    _check_choice("jit_compile", setting, SWITCHES)
    return {"auto": "auto", "on": True, "off": False}[setting]


@contextlib.contextmanager
def dtype_policy(policy="float32"):
    """Build layers under the dtype policy `policy` (e.g. "mixed_float16"), restoring the previous global one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_strategy(name="auto"):
    """A `tf.distribute.Strategy`; the batch size given to the data pipeline is the global batch.

    Args:
        name: "auto" (MirroredStrategy on several GPUs, else the default strategy), "one"
            (one GPU, or the CPU), "mirrored" (all local GPUs) or "multiworker"
            (MultiWorkerMirroredStrategy across the machines TF_CONFIG lists).
    """
    _check_choice("strategy", name, STRATEGIES)
    gpus = tf.config.list_physical_devices("GPU")
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def shard_for(strategy, dataset):
    """Under multi-worker training, shard `dataset` by batches across workers (each batch is
    the global batch, split over all replicas); elsewhere return it unchanged."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def run_dir_for(workdir):
    """`workdir` itself, except on a multi-worker cluster's non-chief workers (per TF_CONFIG),
    which write their copies of the run files into workdir/.workers/<type><index>."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task, cluster = config.get("task") or {}, config.get("cluster") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if not task or kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster):
        return os.fspath(workdir)
    return os.path.join(workdir, ".workers", f"{kind}{index}")


@contextlib.contextmanager
def seeded(seed, deterministic=False):
    """Seed Python, NumPy and TensorFlow; with `deterministic`, also make TF ops deterministic
    (two CPU runs then give identical weights). Op determinism is switched back off after."""
    keras.utils.set_random_seed(int(seed))
    from tensorflow.python.framework import config as tf_config  # the only way to switch it off

    was_on = tf_config.is_op_determinism_enabled()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if deterministic and not was_on:
            tf_config.disable_op_determinism()


def versions():
    """Versions of Python, TensorFlow, Keras and this package, for metrics.json."""
    import keras_resnet_cifar

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_resnet_cifar": keras_resnet_cifar.__version__}


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_choice(name, value, accepted):
    if value not in accepted:
        raise ValueError(f"{name}: received {value!r}; accepted: {', '.join(accepted)}")
