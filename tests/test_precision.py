"""--mixed-precision auto: what it selects from the devices and the CPU's flags, and a run under it that is
killed with SIGKILL resumes exactly."""
import os

import numpy as np
import pytest

from keras_resnet_cifar.config import ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.training import runtime
from test_train_resume import _CHILD as _RESUME_CHILD, _epochs_logged, _h5_arrays, _history, kill_after_epochs

ZEN4 = "fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni"  # AMD EPYC with AVX512_BF16
SAPPHIRE_RAPIDS = "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8"
SKYLAKE = "fpu sse2 avx2 avx512f avx512bw avx512_vnni"  # AVX-512 without bfloat16
GRAVITON = ""  # no x86 flags (an ARM machine's cpuinfo lists "Features", not "flags")


def _machine(monkeypatch, flags, gpus=()):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: set(flags.split()))
    monkeypatch.setattr(runtime, "accelerators", lambda: list(gpus))
    monkeypatch.setattr(runtime, "backend", lambda: "tensorflow")


@pytest.mark.parametrize("flags", [ZEN4, SAPPHIRE_RAPIDS])
def test_auto_trains_in_bfloat16_on_a_cpu_that_has_it(monkeypatch, flags):
    _machine(monkeypatch, flags)
    assert runtime.cpu_has_bf16()
    assert runtime.precision_policy("auto") == "mixed_bfloat16"


@pytest.mark.parametrize("flags", [SKYLAKE, GRAVITON])
def test_auto_trains_in_float32_on_a_cpu_without_bfloat16(monkeypatch, flags):
    _machine(monkeypatch, flags)
    assert not runtime.cpu_has_bf16()
    assert runtime.precision_policy("auto") == "float32"


def test_gpus_decide_before_the_cpu(monkeypatch):
    _machine(monkeypatch, SAPPHIRE_RAPIDS, gpus=[("NVIDIA A100", "8.0")])
    assert runtime.precision_policy("auto") == "mixed_float16"
    _machine(monkeypatch, SAPPHIRE_RAPIDS, gpus=[("Tesla K80", "3.7")])  # float16 would be slow there
    assert runtime.precision_policy("auto") == "float32"


@pytest.mark.parametrize("other", ["jax", "torch"])
def test_auto_keeps_float32_on_the_other_backends(monkeypatch, other):
    _machine(monkeypatch, ZEN4)
    monkeypatch.setattr(runtime, "backend", lambda: other)
    assert runtime.precision_policy("auto") == "float32"


def test_explicit_settings_ignore_the_cpu(monkeypatch):
    _machine(monkeypatch, SKYLAKE)
    assert runtime.precision_policy("bf16") == "mixed_bfloat16"
    _machine(monkeypatch, ZEN4)
    assert runtime.precision_policy("off") == "float32" and runtime.precision_policy("on") == "mixed_float16"


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512f avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu avx512f avx512_bf16\n")
    monkeypatch.setattr(runtime, "_CPUINFO", str(cpuinfo))
    assert runtime._cpu_flags() == {"fpu", "avx512f", "avx512_bf16"}
    monkeypatch.setattr(runtime, "_CPUINFO", str(tmp_path / "missing"))  # not Linux: no flags, no error
    assert runtime._cpu_flags() == set()


CONFIG = TrainConfig(
    model=ModelConfig(blocks=(1,), channels=(4,)),
    optim=OptimConfig(optimizer="sgdn", lr=0.05, momentum=0.9, epochs=4, batch_size=16),
    mixed_precision="auto", deterministic=True, histogram_freq=0, verbose=0,
)

# The child simulates a CPU with AVX512_BF16 and no GPU, whatever the test machine has.
_CHILD = _RESUME_CHILD.replace("from keras_resnet_cifar.training.train import train\n", """\
from keras_resnet_cifar.training.train import train
from keras_resnet_cifar.training import runtime

runtime._cpu_flags = lambda: {"avx512f", "avx512_bf16"}
runtime.accelerators = lambda: []
""", 1)
assert "_cpu_flags" in _CHILD, "test_train_resume._CHILD no longer imports train as this replacement expects"


def test_a_run_under_auto_bfloat16_resumes_exactly_after_sigkill(tmp_path, monkeypatch):
    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import train

    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(runtime, "accelerators", lambda: [])
    rng = np.random.default_rng(0)
    arrays = {"x": rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), "y": np.arange(80) % 10,
              "xt": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "yt": np.arange(20) % 10}
    np.savez(tmp_path / "arrays.npz", **arrays)
    (tmp_path / "config.json").write_text(CONFIG.to_json())
    killed = str(tmp_path / "killed")
    kill_after_epochs([_CHILD, str(tmp_path / "config.json"), killed, str(tmp_path / "arrays.npz")], killed)
    assert not os.path.exists(os.path.join(killed, "metrics.json"))
    assert 2 <= _epochs_logged(killed) < CONFIG.optim.epochs

    data = from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.2, seed=0)
    resumed = train(CONFIG, killed, data=data)
    reference = train(CONFIG, str(tmp_path / "uninterrupted"), data=data)

    assert resumed["mixed_precision"] == reference["mixed_precision"] == "mixed_bfloat16"
    rows, expected = _history(killed), _history(str(tmp_path / "uninterrupted"))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    for row, want in zip(rows, expected):  # deterministic mode: the same figures, digit for digit
        assert {k: row[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")} == \
            {k: want[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")}, row["epoch"]
    final = _h5_arrays(os.path.join(killed, "last.weights.h5"))
    want = _h5_arrays(os.path.join(tmp_path / "uninterrupted", "last.weights.h5"))
    assert final.keys() == want.keys() and any("optimizer" in k for k in final)
    for key in want:
        np.testing.assert_array_equal(final[key], want[key], err_msg=key)
    assert resumed["test_accuracy"] == reference["test_accuracy"]
