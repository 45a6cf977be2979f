"""Archives: safe, once-only extraction into a cache, and the official python-format batches."""
import gzip
import hashlib
import io
import os
import pickle
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from keras_resnet_cifar.files import check_folder

from keras_resnet_cifar.errors import UserError, storage_error

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_ZIP_SUFFIXES = (".zip",)
_PY_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")


def is_archive(path):
    return str(path).lower().endswith(_TAR_SUFFIXES + _ZIP_SUFFIXES)


def default_cache_dir():
    """~/.cache/keras_resnet_cifar (or under $XDG_CACHE_HOME)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "keras_resnet_cifar"


def cache_key(path):
    """'<archive name>-<first 16 hex digits of its sha256>': a changed archive gets a new folder."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    name = Path(path).name
    for suffix in _TAR_SUFFIXES + _ZIP_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}-{digest.hexdigest()[:16]}"


def open_archive(path, cache_dir=None):
    """('folder', extracted root) for an image-folder archive, or ('python', arrays) for cifar-10-python.

    An image-folder archive is extracted once into `cache_dir/<cache_key>` (into a temporary folder
    beside it, then renamed, so a half-written cache is never seen) and reused afterwards.
    """
    path = Path(path)
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache_root / cache_key(path)
    if target.is_dir():
        return "folder", target
    try:
        if str(path).lower().endswith(_ZIP_SUFFIXES):
            with zipfile.ZipFile(path) as archive:
                return "folder", _extract(archive, _zip_members(archive, path), cache_root, target)
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            if _is_python_format([m.name for m in members]):
                return "python", _read_python_batches(archive, members, path)
            return "folder", _extract(archive, _tar_members(members, path), cache_root, target)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise UserError(f"archive {path}: cannot be read, it is corrupt or truncated ({error}); accepted: a "
                         f"complete .tar.gz or .zip; download or copy it again") from error


def _check_name(name, path):
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or name.startswith(("/", "\\")):
        raise UserError(f"archive {path}: member {name!r} would be written outside the cache folder; "
                         f"accepted: relative paths inside the archive; this archive is unsafe, do not use it")


def _tar_members(members, path):
    for member in members:
        _check_name(member.name, path)
        if not (member.isfile() or member.isdir()):
            raise UserError(f"archive {path}: member {member.name!r} is a link or special file; accepted: "
                             f"regular files and folders only; re-create the archive without links")
    return members


def _zip_members(archive, path):
    infos = archive.infolist()
    for info in infos:
        _check_name(info.filename, path)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UserError(f"archive {path}: member {info.filename!r} is a link; accepted: regular files "
                             f"and folders only; re-create the archive without links")
    return infos


def _extract(archive, members, cache_root, target):
    check_folder(cache_root, "--data-dir", "extracting the archive (default ~/.cache/keras_resnet_cifar)")
    cache_root.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_root))
    try:
        if isinstance(archive, tarfile.TarFile):
            archive.extractall(temp, members=members, filter="data")
        else:
            archive.extractall(temp, members=members)
        try:
            os.replace(temp, target)
        except OSError:
            if not target.is_dir():  # another process finished first: use its copy
                raise
    except OSError as error:
        written = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file())
        shutil.rmtree(temp, ignore_errors=True)
        failed = storage_error(error, target, size=written)  # a full disk: name the cache and the space
        if failed is None:
            raise
        raise failed from error
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def _is_python_format(names):
    base = {Path(n).name for n in names}
    return "batches.meta" in base and "test_batch" in base


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only the numpy arrays, lists and strings that the CIFAR batches contain."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
                ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(archive, members, name, path):
    found = [m for m in members if Path(m.name).name == name and m.isfile()]
    if not found:
        raise UserError(f"archive {path}: python-format CIFAR archive without {name!r}; accepted: the "
                         f"official cifar-10-python.tar.gz with data_batch_1..5, test_batch, batches.meta")
    raw = archive.extractfile(found[0]).read()
    try:
        data = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise UserError(f"archive {path}: member {found[0].name!r} is not a CIFAR batch ({error})") from error
    if not isinstance(data, dict):
        raise UserError(f"archive {path}: member {found[0].name!r} holds {type(data).__name__}, not a CIFAR dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _read_python_batches(archive, members, path):
    meta = _unpickle(archive, members, "batches.meta", path)
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", ()))
    arrays = []
    for group in (_PY_BATCHES, ("test_batch",)):
        images, labels = [], []
        for name in group:
            batch = _unpickle(archive, members, name, path)
            data, batch_labels = batch.get("data"), batch.get("labels")
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or \
                    data.shape[1] != 3072 or batch_labels is None or len(batch_labels) != len(data):
                raise UserError(f"archive {path}: batch {name!r} has no uint8 (N, 3072) 'data' with N "
                                 f"'labels'; accepted: the official CIFAR-10 python batches")
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch_labels, np.int64))
        arrays += [np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)]
    return (*arrays, names)
