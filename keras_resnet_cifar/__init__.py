"""keras-resnet-cifar: Keras 3 ResNets for CIFAR-10 under a parameter budget.

Importing the package is cheap: TensorFlow and Keras load only when a name that
needs them is first used, so `count_params` runs without them. On another Keras backend
(KERAS_BACKEND=jax) the model, data loading and training never import TensorFlow.
"""
from keras_resnet_cifar.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "build_resnet": "keras_resnet_cifar.model",
    "build_from_spec": "keras_resnet_cifar.model",
    "stage_output_names": "keras_resnet_cifar.model",
    "load_model": "keras_resnet_cifar.model",
    "count_params": "keras_resnet_cifar.params",
    "count_macs": "keras_resnet_cifar.params",
    "count_network": "keras_resnet_cifar.params",
    "ResNetSpec": "keras_resnet_cifar.spec",
    "PRESETS": "keras_resnet_cifar.presets",
    "get_preset": "keras_resnet_cifar.presets",
    "TrainConfig": "keras_resnet_cifar.config",
    "ModelConfig": "keras_resnet_cifar.config",  # ResNetSpec's older name, kept for compatibility
    "DataConfig": "keras_resnet_cifar.config",
    "OptimConfig": "keras_resnet_cifar.config",
    "load_data": "keras_resnet_cifar.data",
    "from_arrays": "keras_resnet_cifar.data",
    "make_dataset": "keras_resnet_cifar.data",
    "make_loader": "keras_resnet_cifar.data",
    "train": "keras_resnet_cifar.training.train",
    "evaluate": "keras_resnet_cifar.training.evaluate",
    "export_model": "keras_resnet_cifar.serving.export",
    "ResNetHyperModel": "keras_resnet_cifar.tuning.hypermodel",
    "SearchSpace": "keras_resnet_cifar.tuning.space",
    "run_search": "keras_resnet_cifar.tuning.search",
    "run_experiment": "keras_resnet_cifar.experiments",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
