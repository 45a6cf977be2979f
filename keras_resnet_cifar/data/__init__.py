"""CIFAR-10 input pipeline: sources -> in-memory splits -> augmented, mixed `tf.data` batches.

- `load_data` / `from_arrays` (sources.py, splits.py): uint8 images in memory, a stratified
  validation split carved from train, an optional stratified train subset, class names.
- `make_dataset` (pipeline.py): vectorized per-batch augmentation (augment.py) and mixup, stateless
  randomness keyed on (seed, epoch, batch) for exact resumption.
"""
from keras_resnet_cifar.data.augment import AugmentConfig
from keras_resnet_cifar.data.pipeline import make_dataset, normalize_images, steps_per_epoch
from keras_resnet_cifar.data.sources import load_data
from keras_resnet_cifar.data.splits import CifarData, Split, from_arrays

__all__ = ["AugmentConfig", "CifarData", "Split", "from_arrays", "load_data", "make_dataset",
           "normalize_images", "steps_per_epoch"]
