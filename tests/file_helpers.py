"""Helpers for tests of files: a folder's snapshot (a failing command left earlier files exactly as they were),
a run killed after its first epoch, and a script of benchmarks/ loaded as a module."""
import importlib.util
import os

import keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_benchmark(name):
    """benchmarks/NAME.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(folder):
    """{relative path: bytes} of every file under `folder` (empty when it does not exist)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.relpath(os.path.join(root, name), folder)] = handle.read()
    return found


class Killed(Exception):
    """Raised by `KillAfterFirstEpoch`: the process "dies" there, with epoch 1 committed."""


class KillAfterFirstEpoch(keras.callbacks.Callback):
    """Ends `train` at the start of its second epoch, as a kill would (the first epoch is committed)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise Killed()
