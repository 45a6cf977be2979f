"""Where and how training runs: devices, mixed precision, XLA, tf.distribute, determinism.

The settings come from a `TrainConfig`, which has checked them (its `mixed_precision`, `jit_compile`
and `strategy` choices), so they are not checked again here. Nothing here runs at import time;
`train` calls these in order and undoes the process-wide
settings (dtype policy, op determinism) it changed. TensorFlow is imported only on its own
backend: on JAX (or another Keras backend) the device comes from that backend, training runs on
one device (on JAX, or on Keras's DataParallel across processes: `--strategy multiworker`), and what
only TensorFlow has (tf.distribute, op determinism) says so.
"""
import collections
import contextlib
import importlib.metadata
import json
import os
import platform

import keras

import keras_resnet_cifar
from keras_resnet_cifar.memory import available_bytes, check_fits
from keras_resnet_cifar.errors import UserError


def backend():
    """The Keras backend training runs on: "tensorflow", "jax", "torch" or "numpy"."""
    return keras.backend.backend()


def describe_device():
    """One line naming the accelerator(s) or CPU, e.g. "1 x NVIDIA H100 80GB HBM3 (compute 9.0)"."""
    names = [f"{name} (compute {capability})" if capability else name for name, capability in accelerators()]
    if names:
        return ", ".join(f"{names.count(n)} x {n}" for n in dict.fromkeys(names))
    return f"CPU: {_cpu_name()} ({os.cpu_count()} logical cores)"


def accelerators():
    """[(name, "major.minor" or None)] of the GPUs the backend sees ([] on a CPU)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        found = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            capability = details.get("compute_capability")
            found.append((details.get("device_name", gpu.name),
                          f"{capability[0]}.{capability[1]}" if capability else None))
        return found
    if backend() == "jax":
        import jax

        return [(device.device_kind, getattr(device, "compute_capability", None))
                for device in jax.devices() if device.platform == "gpu"]
    if backend() == "torch":
        import torch

        return [(torch.cuda.get_device_name(i), "{}.{}".format(*torch.cuda.get_device_capability(i)))
                for i in range(torch.cuda.device_count())]
    return []


def precision_policy(setting="auto"):
    """The Keras dtype policy to train under, for `--mixed-precision SETTING`.

    "on": "mixed_float16" (float16 compute, float32 variables, loss scaling); "off": "float32";
    "bf16": "mixed_bfloat16" (no loss scaling needed), fast on CPUs with AVX512_BF16 or AMX, on
    TPUs and on Ampere or newer GPUs. "auto": with GPUs, "mixed_float16" where every one has
    compute capability >= 7.0, else "float32"; with none, "mixed_bfloat16" on TensorFlow when the
    CPU computes bfloat16 in hardware (`cpu_has_bf16`; 1.3-1.9x float32's training rate on our
    AMX and AVX512_BF16 CPUs, benchmarks/RESULTS.md), else "float32".

    Args:
        setting: `TrainConfig.mixed_precision`: "auto", "on", "off" or "bf16".
    """
    if setting == "auto":
        gpus = accelerators()
        if gpus:
            setting = "on" if all(c is not None and _version(c) >= (7, 0) for _, c in gpus) else "off"
        else:  # XLA:CPU (JAX) runs bfloat16 convolutions slower than float32 (benchmarks/RESULTS.md)
            setting = "bf16" if backend() == "tensorflow" and cpu_has_bf16() else "off"
    return {"on": "mixed_float16", "off": "float32", "bf16": "mixed_bfloat16"}[setting]


_CPUINFO = "/proc/cpuinfo"


def cpu_has_bf16():
    """Whether this CPU multiplies bfloat16 in hardware: AMX (amx_bf16) or AVX512_BF16 among its flags."""
    return bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())


def _cpu_flags():
    """The CPU's feature flags, from the first "flags" line of /proc/cpuinfo; empty where there is none."""
    try:
        with open(_CPUINFO, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def jit_compile_arg(setting="auto"):
    """`Model.compile`'s jit_compile for "auto" (Keras decides: XLA on GPU, not on CPU or under
    op determinism), "on" or "off"."""
    return {"auto": "auto", "on": True, "off": False}[setting]


def check_memory(config, policy):
    """Refuse `config`'s network before it is built when training it cannot fit in the memory
    available (`memory.check_fits`, activations at 2 bytes under a 16-bit `policy`); with a GPU
    only building is checked against host memory."""
    optim = config.optim
    check_fits(config.model, available_bytes(), batch_size=optim.batch_size, optimizer=optim.optimizer,
               momentum=optim.momentum, activation_bytes=2 if "16" in str(policy) else 4,
               accelerator=bool(accelerators()))


@contextlib.contextmanager
def dtype_policy(policy="float32"):
    """Build layers under the dtype policy `policy` (e.g. "mixed_float16"), restoring the previous global one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class SingleDevice:
    """The strategy of the other Keras backends: one device (JAX's default, its first GPU), one replica."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def make_strategy(name="auto"):
    """A `tf.distribute.Strategy`; the batch size given to the data pipeline is the global batch.

    Args:
        name: "auto" (MirroredStrategy on several GPUs, else the default strategy), "one"
            (one GPU, or the CPU), "mirrored" (all local GPUs) or "multiworker"
            (`multiworker.MultiWorkerStrategy`, TensorFlow's MultiWorkerMirroredStrategy across the
            processes TF_CONFIG lists; it waits until all of them have started). On JAX, "multiworker"
            is `jax_processes.DataParallelProcesses` (Keras's DataParallel across those processes);
            on another backend, "auto" and "one" give `SingleDevice`.
    """
    check_strategy(name)
    if backend() == "jax" and name == "multiworker":
        from keras_resnet_cifar.training.jax_processes import DataParallelProcesses  # imports JAX's distribution

        return DataParallelProcesses(cluster_task())
    if backend() != "tensorflow":
        return SingleDevice()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "multiworker":
        from keras_resnet_cifar.training.multiworker import MultiWorkerStrategy  # imports TensorFlow

        return MultiWorkerStrategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def check_strategy(name):
    """Refuse a strategy this process cannot run, before anything is written: "mirrored" off TensorFlow,
    "multiworker" off TensorFlow and JAX, or "multiworker" without TF_CONFIG (see `cluster_task`)."""
    runs = {"mirrored": ("tensorflow",), "multiworker": ("tensorflow", "jax")}.get(name)
    if runs and backend() not in runs:
        raise UserError(f"strategy: received {name!r} on the {backend()} backend; accepted there: auto or one "
                        f"(one device); {name} needs KERAS_BACKEND={' or '.join(runs)}: run with that backend "
                        "or pass --strategy one")
    if name == "multiworker" and cluster_task() is None:
        raise UserError("strategy: received 'multiworker' without TF_CONFIG naming this process's task; "
                        f"accepted: TF_CONFIG set on every process, e.g. {_TF_CONFIG_EXAMPLE}; or --strategy "
                        "auto to train on this machine alone")


def shard_for(strategy, dataset):
    """Under multi-worker training, this worker's part of `dataset`, whose batches are global batches: on
    TensorFlow the dataset sharded by batches (TensorFlow splits each global batch over all replicas), on
    JAX each batch's `jax_processes.ProcessPart`; elsewhere `dataset` unchanged."""
    part = getattr(strategy, "part", None)
    if part is not None:  # JAX's processes
        from keras_resnet_cifar.training.jax_processes import ProcessPart

        return ProcessPart(dataset, *part)
    if isinstance(strategy, SingleDevice):
        return dataset
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def peer_lost(strategy, error):
    """TensorFlow's reason when `error`, raised by `fit` under `strategy`, says that another worker of the
    cluster is gone (killed, or its machine lost: the collectives fail with UnavailableError), else None."""
    if backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and isinstance(
            error, (tf.errors.UnavailableError, tf.errors.AbortedError))):
        return None
    lines = [line.strip() for line in str(error).splitlines()]
    return next((line for line in lines if "aborted by" in line), type(error).__name__)


def run_dir_for(workdir, task=None):
    """`workdir` itself, except for a multi-worker cluster's non-chief `task` (see `cluster_task`), which
    writes its copies of the run files into workdir/.workers/<type><index>."""
    if task is None or task.chief:
        return os.fspath(workdir)
    return os.path.join(workdir, ".workers", task.name)


class Task(collections.namedtuple("Task", "kind index chief addresses process")):
    """This process's task in a cluster: its type ("chief" or "worker"), index, whether it is the chief
    (the "chief" task, or worker 0 of a cluster without one), every task's address (the chief's first,
    then the workers') and its own place in that list."""

    @property
    def name(self):
        """e.g. "worker1", the folder of its run files under WORKDIR/.workers/."""
        return f"{self.kind}{self.index}"


def cluster_task(strategy="multiworker"):
    """This process's `Task` in the cluster TF_CONFIG describes, or None without TF_CONFIG or its "task",
    or when `strategy` (a `TrainConfig.strategy`) is not "multiworker", the one strategy that reads it."""
    text = os.environ.get("TF_CONFIG")
    if strategy != "multiworker" or not text:
        return None
    try:
        config = json.loads(text)
        task = config.get("task")
        if not task:
            return None
        cluster = config["cluster"]
        kind, index = str(task["type"]), int(task.get("index", 0))
        if kind not in ("chief", "worker") or not 0 <= index < len(cluster[kind]):
            raise KeyError(kind)
        addresses = [str(a) for a in cluster.get("chief", [])] + [str(a) for a in cluster.get("worker", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"TF_CONFIG: received {text!r}; accepted: JSON naming the cluster's addresses and this "
                        f"process's task in it, e.g. {_TF_CONFIG_EXAMPLE}") from None
    process = index + (len(cluster.get("chief", [])) if kind == "worker" else 0)
    return Task(kind, index, kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster),
                addresses, process)


_TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}')


@contextlib.contextmanager
def seeded(seed, deterministic=False):
    """Seed Python, NumPy and the backend; with `deterministic`, also make TF ops deterministic
    (two CPU runs then give identical weights). Op determinism is switched back off after.

    On JAX, CPU runs are deterministic anyway; on a GPU, `deterministic` sets XLA_FLAGS
    --xla_gpu_deterministic_ops=true, which takes effect if JAX has not started its GPU yet
    (as in `train`); other backends' GPU determinism is not managed here.
    """
    if backend() != "tensorflow":
        flag = "--xla_gpu_deterministic_ops=true"
        if deterministic and backend() == "jax" and flag not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        keras.utils.set_random_seed(int(seed))
        yield
        return
    keras.utils.set_random_seed(int(seed))
    import tensorflow as tf
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
    """Versions of Python, Keras, this package and the backend's own packages (tensorflow; jax
    and jaxlib; torch), for metrics.json. Reads package metadata: imports nothing."""
    found = {"python": platform.python_version(), "keras": keras.__version__,
             "keras_resnet_cifar": keras_resnet_cifar.__version__}
    for package in {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib")}.get(backend(), (backend(),)):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def _version(text):
    return tuple(int(part) for part in str(text).split(".")[:2] if part.isdigit())


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
