"""CIFAR-10 input pipeline: sources -> in-memory splits -> augmented, mixed batches.

- `load_data` / `from_arrays` (sources.py, splits.py): uint8 images in memory, a stratified
  validation split carved from train, an optional stratified train subset, class names.
- `make_dataset` (pipeline.py): `tf.data` batches with vectorized per-batch augmentation
  (augment.py) and mixup, stateless randomness keyed on (seed, epoch, batch) for exact resumption.
- `make_loader` (loader.py): the same recipe in NumPy as a `keras.utils.PyDataset`, for the
  backends without TensorFlow (JAX, PyTorch).

Names load on first use, so loading data and the NumPy loader never import TensorFlow.
"""
from keras_resnet_cifar.lazy import lazy_exports

_LAZY = {
    "AugmentConfig": "keras_resnet_cifar.config",
    "make_dataset": "keras_resnet_cifar.data.pipeline",
    "normalize_images": "keras_resnet_cifar.data.loader",
    "steps_per_epoch": "keras_resnet_cifar.data.splits",
    "make_loader": "keras_resnet_cifar.data.loader",
    "load_data": "keras_resnet_cifar.data.sources",
    "CifarData": "keras_resnet_cifar.data.splits",
    "Split": "keras_resnet_cifar.data.splits",
    "from_arrays": "keras_resnet_cifar.data.splits",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
