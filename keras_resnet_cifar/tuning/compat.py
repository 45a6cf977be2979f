"""Every private Keras Tuner (and TensorFlow) name the search relies on, in one place.

Keras Tuner has no public API for a feasibility-checked random draw, a seeded Bayesian proposal over
our own encoding, continuing a Hyperband trial from its checkpoint, or serving an oracle in-process;
these use the names below. TensorFlow has none for releasing a finished trial's graphs (see
`custom_gradients`). tests/test_tuning_compat.py checks each still exists, and setup.py pins the tested
minor range (keras-tuner 1.4.x): upgrading means running that test first. Keras Tuner writes its state
files in place; `AtomicState` and `save_state` write them atomically.
"""
import json

from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief  # noqa: F401
from keras_tuner.src.engine.stateful import Stateful
from keras_tuner.src.engine.tuner_utils import convert_to_metrics_dict  # noqa: F401
from keras_tuner.src.protos import get_service_grpc  # noqa: F401

from keras_resnet_cifar.files import write_text

# Private members read or overridden, by where Keras Tuner defines them (module path, class, names).
# "attributes" are set on instances by the class's __init__.
PRIVATE_MEMBERS = {
    ("keras_tuner.src.engine.oracle", "Oracle"): {
        "methods": ("_random_values", "_save_trial", "_get_trial_dir"),
        "attributes": ("_seed_state", "_max_collisions", "_retry_queue")},
    ("keras_tuner.src.tuners.bayesian", "BayesianOptimizationOracle"): {
        "methods": ("_random_populate_space", "_vectorize_trials", "_nonfixed_space"), "attributes": ("gpr",)},
    ("keras_tuner.src.engine.base_tuner", "BaseTuner"): {"methods": ("_populate_initial_space",), "attributes": ()},
    ("keras_tuner.src.engine.tuner", "Tuner"): {"methods": ("_build_hypermodel", "_get_checkpoint_fname"),
                                               "attributes": ()},
}


class AtomicState(Stateful):
    """Mixin, listed after Keras Tuner's class: its state file (oracle.json, the tuner's <id>.json) written
    atomically. Keras Tuner writes them in place, so a worker starting beside its chief, or any resume after a
    kill -9, could read a half-written file and refuse the search as corrupt."""

    def save(self, fname):
        return save_state(fname, self)


def save_state(path, stateful):
    """Write a Keras Tuner object's state (as `Stateful.save` does) to `path` atomically; returns the JSON."""
    text = json.dumps(stateful.get_state())
    write_text(path, text)
    return text


CUSTOM_GRADIENT_PREFIX = "CustomGradient-"  # TensorFlow's name for each graph-mode tf.custom_gradient


def custom_gradients():
    """TensorFlow's global gradient registry: name -> entry, never emptied.

    Every `tf.custom_gradient` traced in a graph registers its gradient function there under a new
    name (CUSTOM_GRADIENT_PREFIX + a counter), and that function's closure holds the graph it was traced
    in. Keras's TensorFlow optimizer all-reduces the gradients through one in each traced train step,
    so every model fitted keeps its whole train-step graph alive after `clear_session`: about 17 MB a
    trial for a tiny network (issue 25). The search drops its trial's entries when the trial ends.
    """
    from tensorflow.python.framework import ops  # TensorFlow only: the other backends trace no graphs

    return ops._gradient_registry._registry
