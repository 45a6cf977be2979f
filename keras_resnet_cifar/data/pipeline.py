"""`make_dataset`: a `Split` in memory -> batched, augmented, mixed `tf.data.Dataset` for Keras."""
import numpy as np
import tensorflow as tf

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.data import augment as _aug
from keras_resnet_cifar.data.loader import first_flips
from keras_resnet_cifar.data.splits import check_batching, steps_per_epoch


def make_dataset(split, *, num_classes, batch_size, training, data=DataConfig(), seed=0, first_epoch=0,
                 first_step=0, parallel_calls=None) -> tf.data.Dataset:
    """Batches of (float32 images, float32 one-hot labels) from a `Split` for `model.fit`/`evaluate`.

    Args:
        split: a `Split` (uint8 images in memory).
        num_classes: length of the one-hot labels.
        batch_size: images per batch.
        training: True gives an infinite stream of epochs `first_epoch, first_epoch + 1, ...`, each a
            seeded permutation in full batches (remainder dropped), augmented and mixed; randomness
            is stateless, keyed on (seed, epoch, batch), so a resumed run sees the same batches.
            False gives one ordered pass over every image (last batch may be short), normalized only.
        data: a `DataConfig`: its preprocessing (`pixel_affine`) and its `augment` (crop -> hflip ->
            vflip -> normalize -> noise -> cutout, then mixup when `augment.mixup_alpha` > 0).
        seed: integer seed of the shuffling and augmentation.
        first_epoch: epoch to start from (training only), for resuming.
        first_step: batches of `first_epoch` to skip (training only), for resuming mid-epoch. Default 0.
        parallel_calls: threads of the batch map (default tf.data.AUTOTUNE).

    Example:
        >>> ds = make_dataset(data.train, num_classes=10, batch_size=128, training=True)
        >>> model.fit(ds, epochs=50, steps_per_epoch=steps_per_epoch(data.train, 128))
    """
    check_batching(split, batch_size, data)
    labels = tf.convert_to_tensor(split.labels, tf.int32)
    mixup_alpha = data.augment.mixup_alpha
    calls = parallel_calls or tf.data.AUTOTUNE

    if not training:
        images = tf.convert_to_tensor(np.ascontiguousarray(split.images))  # the one in-graph copy

        def eval_batch(index):
            return _aug.to_float(tf.gather(images, index), data), tf.one_hot(tf.gather(labels, index), num_classes)
        ds = tf.data.Dataset.range(len(split)).batch(batch_size)
        return ds.map(eval_batch, num_parallel_calls=calls, deterministic=True).prefetch(tf.data.AUTOTUNE)

    steps = steps_per_epoch(split, batch_size)
    # The in-graph copy, laid out for crops and flips by whole-row gathers (see augment.column_table).
    table = tf.convert_to_tensor(_aug.column_table(np.asarray(split.images)))
    image_shape = split.images.shape[1:]
    base = tf.constant([int(seed) % 2**63, 0x5EED], tf.int64)
    order_key = tf.random.experimental.stateless_fold_in(base, 1)
    batch_key = tf.random.experimental.stateless_fold_in(base, 2)
    alternate = data.augment.hflip and data.augment.alternate_flip
    first = tf.constant(first_flips(len(split), seed)) if alternate else None

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(split)), tf.random.experimental.stateless_fold_in(order_key, epoch))
        order = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        return tf.data.Dataset.from_tensor_slices((tf.fill([steps], epoch), tf.range(steps, dtype=tf.int64), order))

    def train_batch(epoch, step, index):
        key = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(batch_key, epoch), step)
        aug_key, mix_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        mask = tf.not_equal(tf.gather(first, index), tf.equal(epoch % 2, 1)) if alternate else None
        x = _aug.augment_table(table, index, image_shape, data, aug_key, hflip_mask=mask)
        y = tf.one_hot(tf.gather(labels, index), num_classes)
        if mixup_alpha > 0:
            x, y, _, _ = _aug.mixup(x, y, float(mixup_alpha), mix_key)
        return x, y

    ds = tf.data.Dataset.counter(int(first_epoch)).flat_map(epoch_batches).skip(int(first_step))  # before the map: free
    return ds.map(train_batch, num_parallel_calls=calls, deterministic=True).prefetch(tf.data.AUTOTUNE)
