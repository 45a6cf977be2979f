"""airbench's augmentation (issue 16): flips that alternate per image between epochs, translation with
reflect padding; the same on the tf.data pipeline and the NumPy loader."""
import numpy as np
import pytest

from keras_resnet_cifar.config import AugmentConfig, DataConfig
from keras_resnet_cifar.data.loader import first_flips, make_loader
from keras_resnet_cifar.data.splits import Split

COUNT, BATCH = 16, 8


def _images():
    """Distinct, left-right asymmetric images: image i holds i + 1 in its left 16 columns and 200 elsewhere."""
    images = np.full((COUNT, 32, 32, 3), 200, np.uint8)
    for i in range(COUNT):
        images[i, :, :16] = i + 1
    return images


def _config(**augment):
    return DataConfig(normalize=False, augment=AugmentConfig(**{"crop": False, "hflip": True, **augment}))


def _epochs(make, data, epochs=3, seed=5):
    """{epoch: {image index: pixels uint8}} over the first `epochs` epochs of the training stream."""
    split = Split(images=_images(), labels=np.arange(COUNT))
    stream = make(split, num_classes=COUNT, batch_size=BATCH, training=True, data=data, seed=seed)
    batches = iter(stream) if not hasattr(stream, "__getitem__") else (stream[i] for i in range(10 ** 6))
    seen = {}
    for step in range(epochs * COUNT // BATCH):
        x, y = next(batches)
        for image, label in zip(np.rint(np.asarray(x) * 255).astype(np.uint8), np.asarray(y).argmax(1)):
            seen.setdefault(step // (COUNT // BATCH), {})[int(label)] = image
    return seen


def _makers():
    found = [make_loader]
    try:
        from keras_resnet_cifar.data.pipeline import make_dataset
        found.append(make_dataset)
    except ImportError:  # the NumPy loader is tested without TensorFlow too
        pass
    return found


@pytest.mark.parametrize("make", _makers(), ids=lambda f: f.__name__)
def test_each_image_flips_on_alternate_epochs_from_its_seeded_first_choice(make):
    seen = _epochs(make, _config(alternate_flip=True))
    first = first_flips(COUNT, 5)
    assert 0 < first.sum() < COUNT
    for epoch, images in seen.items():
        for index, image in images.items():
            mirrored = image[0, 0, 0] == 200  # the left half moved right
            assert mirrored == (first[index] != (epoch % 2 == 1)), (epoch, index)
    # Without the option each epoch draws anew: some image keeps its state across two epochs.
    plain = _epochs(make, _config(alternate_flip=False))
    assert any((plain[0][i][0, 0, 0] == 200) == (plain[1][i][0, 0, 0] == 200) for i in range(COUNT))


@pytest.mark.parametrize("make", _makers(), ids=lambda f: f.__name__)
def test_reflect_padding_translates_into_the_mirrored_border(make):
    seen = _epochs(make, _config(crop=True, pad=2, pad_mode="reflect", hflip=False), epochs=2)
    originals = _images()
    shifts = set()
    for images in seen.values():
        for index, image in images.items():
            padded = np.pad(originals[index], ((2, 2), (2, 2), (0, 0)), mode="reflect")
            match = [(dy, dx) for dy in range(5) for dx in range(5)
                     if np.array_equal(padded[dy:dy + 32, dx:dx + 32], image)]
            assert match, index  # a window of the reflect-padded image: never a zero border
            shifts.add(match[0][1])
    assert len(shifts) > 1


def test_pad_mode_is_checked():
    with pytest.raises(ValueError, match=r"data.augment.pad_mode: received 'wrap'; accepted: 'zeros', 'reflect'"):
        AugmentConfig(pad_mode="wrap")
