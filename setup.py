"""Install keras-resnet-cifar.

    pip install -e ".[tensorflow]"   # the main install: TensorFlow backend, tfds, export, TensorBoard
    pip install -e ".[jax]"          # JAX backend, no TensorFlow (KERAS_BACKEND=jax): build, train, evaluate, tune
    pip install -e ".[test]"         # everything, plus the test tools

The core (no extra) is what runs on Keras's JAX backend without TensorFlow; each extra adds what its
modules import (tests/test_install_declared.py checks both ways, and .ci/run installs `.[jax]` in a
fresh venv and trains with TensorFlow absent).
"""
from setuptools import find_packages, setup

CORE = [
    "keras>=3.8",
    "keras-tuner>=1.4.7,<1.5",  # private names in tuning/compat.py, tested on 1.4.x; imports without TensorFlow
    "six",  # keras-tuner 1.4.x imports it (engine/conditions.py) but does not declare it; TensorFlow brought it
    "scikit-learn",  # the Bayesian oracle (tuning/oracle.py; brings scipy)
    "grpcio",  # the distributed search's chief (tuning/distributed.py)
    "h5py",  # weights-file checks (files.py)
    "matplotlib",
    "numpy",
    "pillow",
]
TENSORFLOW = [
    "tensorflow>=2.16",  # the first release whose tf.keras is Keras 3
    "tensorflow-datasets",  # --source tfds
    "importlib_resources",  # tfds 4.9.x imports it to download but does not declare it
    "tensorboard",  # the `tensorboard` command for a run's logs/ (the callback writes through tf.summary)
    "protobuf",  # export, check-export and the warmup records (serving/)
]
EXTRAS = {
    "tensorflow": TENSORFLOW,
    # Keras's JAX backend (CPU jax from PyPI; for a GPU install jax[cuda12] or jax[cuda13] instead).
    "jax": ["jax>=0.4.30"],
    # predict's gRPC client (the REST client is the standard library's urllib); the server is TF Serving.
    "serving": TENSORFLOW + ["tensorflow-serving-api"],
    "plot": ["pydot"],  # keras.utils.plot_model (summary --plot); also needs Graphviz's `dot`
}
# The tests run every backend and extra (tests/test_jax_backend.py trains on JAX in subprocesses).
EXTRAS["test"] = sorted({req for reqs in EXTRAS.values() for req in reqs} | {"pytest", "hypothesis"})

setup(
    name="keras-resnet-cifar",
    version="0.1.0",
    description="Keras 3 ResNets for CIFAR-10 under a parameter budget: build, train, tune, export, serve.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_resnet_cifar", "keras_resnet_cifar.*"]),
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["keras-resnet-cifar=keras_resnet_cifar.cli:main"]},
)
