"""load_data's sources (tfds, image folders, archives, official python batches) and their errors."""
import io
import os
import pickle
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_resnet_cifar.data import load_data, sources

CLASSES = ("cat", "dog", "frog")
REAL_ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpeg.tar.gz"


def _make_tree(root, fmt="png", per_class=(4, 2), size=(8, 8), seed=0):
    """ROOT/{train,test}/<class>/i.<fmt>; returns {(split, class, i): pixels}."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, count in zip(("train", "test"), per_class):
        for name in CLASSES:
            folder = Path(root) / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                if fmt == "jpg":  # flat colours survive JPEG's chroma subsampling almost exactly
                    image[:] = image[0, 0]
                Image.fromarray(image).save(folder / f"{i:03d}.{fmt}")
                pixels[split, name, i] = image
    return pixels


def _tar(tree, target, wrap=None):
    with tarfile.open(target, "w:gz") as archive:
        archive.add(tree, arcname=wrap or ".")
    return target


def _zip(tree, target):
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(Path(tree).rglob("*")):
            archive.write(path, path.relative_to(tree).as_posix())
    return target


def test_png_tree_loads_exact_pixels_labels_and_class_names(tmp_path):
    pixels = _make_tree(tmp_path / "tree")
    data = load_data(tmp_path / "tree", val_fraction=0.25, verbose=False)
    assert data.class_names == CLASSES and "image folder" in data.source
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 6)
    np.testing.assert_array_equal(np.bincount(data.val.labels), [1, 1, 1])
    expected_test = np.stack([pixels["test", c, i] for c in CLASSES for i in range(2)])
    np.testing.assert_array_equal(data.test.images, expected_test)
    np.testing.assert_array_equal(data.test.labels, [0, 0, 1, 1, 2, 2])
    for image, label in zip(data.train.images, data.train.labels):
        assert any(np.array_equal(image, pixels["train", CLASSES[label], i]) for i in range(4))


def test_jpeg_tar_and_zip_archives_are_extracted_once_and_reused(tmp_path):
    pixels = _make_tree(tmp_path / "tree", fmt="jpg")
    cache = tmp_path / "cache"
    for archive in (_tar(tmp_path / "tree", tmp_path / "set.tar.gz", wrap="set"), _zip(tmp_path / "tree", tmp_path / "set.zip")):
        data = load_data(archive, data_dir=cache, val_fraction=0, verbose=False)
        assert data.class_names == CLASSES and len(data.train) == 12 and "archive" in data.source
        # JPEG is lossy: close to the originals, not equal
        assert np.abs(data.test.images[0].astype(int) - pixels["test", "cat", 0]).mean() < 3
    folders = sorted(p.name for p in cache.iterdir())
    assert len(folders) == 2 and all(name.startswith("set-") for name in folders)  # one per archive, no temp left
    marker = cache / folders[0] / "reused"
    marker.write_text("x")
    stamp = os.stat(cache / folders[0]).st_mtime_ns
    load_data(tmp_path / "set.tar.gz", data_dir=cache, val_fraction=0, verbose=False)
    assert marker.exists() and os.stat(cache / folders[0]).st_mtime_ns == stamp


def _pickle_batch(data, labels, protocol=2):
    return pickle.dumps({b"batch_label": b"x", b"labels": list(map(int, labels)), b"data": data,
                         b"filenames": [b"f"] * len(labels)}, protocol=protocol)


def _python_archive(path, per_batch=6, meta_names=CLASSES, extra=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6 * per_batch, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, len(meta_names), 6 * per_batch)
    members = {"cifar-10-batches-py/batches.meta": pickle.dumps(
        {b"label_names": [n.encode() for n in meta_names], b"num_vis": 3072}, protocol=2)}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        part = slice(i * per_batch, (i + 1) * per_batch)
        flat = images[part].transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # the official row layout
        members[f"cifar-10-batches-py/{name}"] = _pickle_batch(flat, labels[part])
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return images, labels


def test_official_python_archive_is_read_directly(tmp_path):
    images, labels = _python_archive(tmp_path / "cifar-10-python.tar.gz")
    data = load_data(tmp_path / "cifar-10-python.tar.gz", data_dir=tmp_path / "cache", val_fraction=0, verbose=False)
    assert data.class_names == CLASSES and "python" in data.source
    np.testing.assert_array_equal(data.train.images, images[:30])
    np.testing.assert_array_equal(data.test.images, images[30:])
    np.testing.assert_array_equal(data.test.labels, labels[30:])
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing extracted


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_python_archive_with_foreign_objects_is_refused(tmp_path):
    evil = pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2)
    _python_archive(tmp_path / "c.tar.gz", extra={"cifar-10-batches-py/data_batch_3": evil})
    with pytest.raises(ValueError, match="not a CIFAR batch.*refusing to load posix.system"):
        load_data(tmp_path / "c.tar.gz", data_dir=tmp_path / "cache")


def test_tfds_source_through_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(sources, "_reachable", lambda host, timeout=3.0: True)
    with tfds.testing.mock_data(num_examples=20):
        data = load_data("tfds", val_fraction=0.1, verbose=False)
        names = tfds.builder("cifar10").info.features["label"].names
    assert data.class_names == tuple(names) and data.num_classes == 10
    assert len(data.train) + len(data.val) == 20 and len(data.val) == 2 and len(data.test) == 20
    assert data.train.images.dtype == np.uint8 and data.train.images.shape[1:] == (32, 32, 3)
    assert data.source == "tfds cifar10 (official)"


def test_tfds_offline_fails_within_seconds_naming_offline_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_reachable", lambda host, timeout=3.0: False)  # offline even on a CI with network
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="offline sources.*cifar10-png.tar.gz.*cifar-10-python"):
        load_data("tfds", data_dir=tmp_path, verbose=False)
    assert time.monotonic() - start < 10


def test_network_probe_gives_up_within_its_timeout():
    start = time.monotonic()
    assert sources._reachable(("192.0.2.1", 443), timeout=0.5) is False  # TEST-NET-1: never routed
    assert time.monotonic() - start < 2


# ---- every bad input gets its own clear error -----------------------------------------------

def test_missing_folder_or_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; accepted: 'tfds' or an image-folder tree"):
        load_data(tmp_path / "nope.tar.gz")
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no train/ and test/ folders"):
        load_data(tmp_path)
    (tmp_path / "file.csv").write_text("x")
    with pytest.raises(ValueError, match="neither a folder nor an archive"):
        load_data(tmp_path / "file.csv")


def test_empty_class_folder(tmp_path):
    _make_tree(tmp_path)
    for image in (tmp_path / "test" / "dog").iterdir():
        image.unlink()
    with pytest.raises(ValueError, match=r"test/dog: empty class folder"):
        load_data(tmp_path)


def test_train_and_test_classes_differ(tmp_path):
    _make_tree(tmp_path)
    (tmp_path / "test" / "frog").rename(tmp_path / "test" / "toad")
    with pytest.raises(ValueError, match=r"only in train: \['frog'\], only in test: \['toad'\]"):
        load_data(tmp_path)


def test_file_that_is_not_an_image(tmp_path):
    _make_tree(tmp_path)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt is not an image file"):
        load_data(tmp_path)
    (tmp_path / "train" / "cat" / "notes.txt").unlink()
    (tmp_path / "test" / "labels.csv").write_text("x")
    with pytest.raises(ValueError, match=r"test: files outside class folders \(labels.csv\)"):
        load_data(tmp_path)
    (tmp_path / "test" / "labels.csv").unlink()
    (tmp_path / "train" / "dog" / "001.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"dog/001.png is not a readable image"):
        load_data(tmp_path)


def test_image_of_another_size_is_named_unless_resize(tmp_path):
    _make_tree(tmp_path)
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "test" / "frog" / "001.png")
    with pytest.raises(ValueError, match=r"1 images differ in size.*frog/001.png \(9x8\).*resize=True"):
        load_data(tmp_path)
    data = load_data(tmp_path, resize=True, verbose=False)
    assert data.train.images.shape[1:] == data.test.images.shape[1:] == (32, 32, 3)
    assert load_data(tmp_path, resize=(8, 8), verbose=False).test.images.shape[1:] == (8, 8, 3)
    with pytest.raises(ValueError, match="resize: received"):
        load_data(tmp_path, resize=(8, 0))


def test_corrupt_or_truncated_archive(tmp_path):
    _make_tree(tmp_path / "tree")
    good = _tar(tmp_path / "tree", tmp_path / "good.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cut.tar.gz: cannot be read, it is corrupt or truncated"):
        load_data(tmp_path / "cut.tar.gz", data_dir=tmp_path / "cache")
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ValueError, match="junk.zip: cannot be read, it is corrupt or truncated"):
        load_data(tmp_path / "junk.zip", data_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("cut*"))  # no half-written cache folder


@pytest.mark.parametrize("name", ["../escape.png", "/abs/escape.png", "train/../../escape.png"])
def test_archive_member_escaping_the_cache_is_refused(tmp_path, name):
    for path in (tmp_path / "bad.tar.gz", tmp_path / "bad.zip"):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr(name, b"x")
        else:
            with tarfile.open(path, "w:gz") as archive:
                info = tarfile.TarInfo(name)
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
        with pytest.raises(ValueError, match="would be written outside the cache folder"):
            load_data(path, data_dir=tmp_path / "cache")
    assert not (tmp_path / "escape.png").exists()


def test_archive_with_links_is_refused(tmp_path):
    with tarfile.open(tmp_path / "link.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("train/cat/a.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(ValueError, match="a.png' is a link or special file"):
        load_data(tmp_path / "link.tar.gz", data_dir=tmp_path / "cache")
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        info = zipfile.ZipInfo("train/cat/a.png")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="a.png' is a link"):
        load_data(tmp_path / "link.zip", data_dir=tmp_path / "cache")


@pytest.mark.slow
def test_real_cifar10_jpeg_archive(tmp_path):
    if not REAL_ARCHIVE.exists():
        pytest.skip(f"{REAL_ARCHIVE} not present")
    data = load_data(REAL_ARCHIVE, data_dir=tmp_path, val_fraction=0, verbose=False)
    assert (len(data.train), len(data.test)) == (50_000, 10_000)
    np.testing.assert_array_equal(np.bincount(data.train.labels), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(data.test.labels), [1000] * 10)
    assert data.class_names[:3] == ("airplane", "automobile", "bird") and data.train.images.shape[1:] == (32, 32, 3)
    split = load_data(REAL_ARCHIVE, data_dir=tmp_path, verbose=False)  # the second load reuses the cache
    np.testing.assert_array_equal(np.bincount(split.val.labels), [500] * 10)
