"""Files and folders on disk, the package's bottom layer: atomic writes, JSON read with the file named in
every error, the checks that a `.keras` or `.weights.h5` file is whole, and the check of a folder argument.

It imports only `errors` of the package, so every other module may import it. (paths.py, which held the
folder check alone, is merged in: one module for what is on disk, named after it.)
"""
import json
import os
import tempfile
import zipfile

from keras_resnet_cifar.errors import DamagedFileError, UserError, UserFileNotFoundError, UserIsADirectoryError, UserNotADirectoryError, UserPermissionError, storage_error


def atomic_save(path, save):
    """Call `save(temp_path)` for a temp file beside `path` (same suffix), then os.replace it.

    A reader (or a kill -9) never sees a half-written `path`. A full disk or a device error (ENOSPC,
    EDQUOT, EIO) leaves `path` as it was, removes the partial file and raises `errors.StorageError`
    naming `path`, the space it needs and the space free.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    temp = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
        os.close(handle)
        save(temp)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; others (e.g. TF Serving) must read it
        os.replace(temp, path)
    except BaseException as error:
        written = os.path.getsize(temp) if temp and os.path.exists(temp) else 0
        if temp and os.path.exists(temp):
            os.remove(temp)
        failed = storage_error(error, path, size=written)
        if failed is None:
            raise
        raise failed from error


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Write `text` to `path` atomically."""
    def save(temp):
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
    atomic_save(path, save)


def write_json(path, obj):
    """Write `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path, kind=None):
    """Parse a JSON file, naming the file in the error if it is not JSON (or not a JSON `kind`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise UserFileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserIsADirectoryError(f"{path}: is a folder; accepted: a JSON file") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error}); fix or delete the file") from None
    if kind is not None and not isinstance(data, kind):
        raise UserError(f"{path}: holds a JSON {type(data).__name__}; accepted: a JSON "
                         f"{'object' if kind is dict else kind.__name__}")
    return data


def check_keras_file(path, what="model"):
    """Raise DamagedFileError, a ValueError (with `path` and the fix), unless `path` is a complete .keras archive.

    A .keras file is a zip holding config.json and model.weights.h5; a truncated or overwritten
    one makes `keras.saving.load_model` say "File not found", which is false.

    Args:
        path: the .keras file.
        what: what the file is, for the message, e.g. "best checkpoint". Default "model".
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            broken = None if missing else archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise DamagedFileError(_not_keras(path, what, f"not a complete .keras zip archive: {error}")) from None
    if missing or broken:
        problem = f"it lacks {', '.join(sorted(missing))}" if missing else f"member {broken} is corrupt"
        raise DamagedFileError(_not_keras(path, what, problem))


def _not_keras(path, what, problem):
    return (f"{path}: not a readable Keras model ({problem}); the {what} file is truncated or corrupt. "
            "Fix: restore it from a copy, or retrain it (train --force)")


def check_weights_file(path, what="the weights file", fix="fix: restore it from a copy, or retrain it (train --force)"):
    """Raise DamagedFileError, a ValueError ("WHAT PATH cannot be read (why); FIX"), unless every array of the
    .h5 file `path` reads.

    Args:
        path: the .weights.h5 (or .h5) file.
        what: what the file is, the message's start. Default "the weights file".
        fix: the way out the message ends with.
    """
    import h5py  # lazy: h5py (a Keras dependency) loads only when a checkpoint is checked, not at CLI start-up

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(read)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise DamagedFileError(f"{what} {path} cannot be read ({one_line(error)}); {fix}") from None


def one_line(error):
    """An exception's text on one line (at most 400 characters), or its type's name when it has none."""
    return " ".join(str(error).split())[:400] or type(error).__name__


def check_folder(path, flag, purpose, *, writable=True):
    """Raise unless `path` is (or can be created as) a folder, writable by this process if `writable`.

    A folder argument is checked before any work, with the path, the problem and the fix. Nothing is
    created: a missing folder is checked through its nearest existing parent.

    Args:
        path: the folder.
        flag: how the user gave it, e.g. "--directory" (named in the message).
        purpose: what the folder is for, e.g. "the search's results".
        writable: also require that files can be created in it. Default True.

    Raises:
        NotADirectoryError: `path`, or a folder above it, is a file.
        PermissionError: `writable` and it cannot be written.

    Example:
        >>> check_folder("tuner/resnet_cifar", "--directory", "the search's results")
    """
    given = os.fspath(path)
    existing = os.path.abspath(os.path.expanduser(given))
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = ("which is a file" if existing == os.path.abspath(os.path.expanduser(given))
                 else f"but {existing!r} above it is a file")
        raise UserNotADirectoryError(
            f"{flag}: received {given!r}, {where}, not a folder; accepted: a folder (created if missing) for "
            f"{purpose}; fix: pass another {flag} or move that file away")
    if not writable:
        return
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=existing)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise UserPermissionError(
            f"{flag}: cannot write to {given!r} ({error.strerror or error} in {existing!r}); accepted: a folder "
            f"you can write to, for {purpose}; fix: pass another {flag} or change its permissions") from None
