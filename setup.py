"""Install keras-resnet-cifar: `pip install -e .` (or `.[test]` for the tests)."""
from setuptools import find_packages, setup

setup(
    name="keras-resnet-cifar",
    version="0.1.0",
    description="Keras 3 ResNets for CIFAR-10 under a parameter budget: build, train, tune, export, serve.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_resnet_cifar", "keras_resnet_cifar.*"]),
    install_requires=[
        "tensorflow>=2.16",  # the first release whose tf.keras is Keras 3
        "keras>=3.8",
        "keras-tuner>=1.4.7,<1.5",  # private names in tuning/compat.py, tested on 1.4.x
        "scikit-learn",  # keras-tuner's Bayesian optimization (brings scipy)
        "tensorflow-datasets",
        "importlib_resources",  # tfds 4.9.x imports it to download but does not declare it
        "tensorboard",  # TensorBoard callback (loss, learning rate, weight histograms)
        "matplotlib",
        "numpy",
        "pillow",
    ],
    extras_require={
        "serving": ["tensorflow-serving-api", "requests"],
        "plot": ["pydot"],
        # Keras's JAX backend (CPU jax from PyPI; for a GPU install jax[cuda12] or jax[cuda13] instead):
        # KERAS_BACKEND=jax runs train and evaluate without TensorFlow (README: "JAX backend / GPU").
        "jax": ["jax>=0.4.30"],
        # jax: tests/test_jax_backend.py trains on KERAS_BACKEND=jax in subprocesses of the same venv
        "test": ["pytest", "hypothesis", "tensorflow-serving-api", "requests", "pydot", "jax>=0.4.30"],
    },
    entry_points={"console_scripts": ["keras-resnet-cifar=keras_resnet_cifar.cli:main"]},
)
