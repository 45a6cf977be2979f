"""Files written atomically and JSON read with the file named in every error: the one copy of each."""
import json
import os
import tempfile


def atomic_save(path, save):
    """Call `save(temp_path)` for a temp file beside `path` (same suffix), then os.replace it.

    A reader (or a kill -9) never sees a half-written `path`.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        save(temp)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; others (e.g. TF Serving) must read it
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


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
        raise FileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a folder; accepted: a JSON file") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error}); fix or delete the file") from None
    if kind is not None and not isinstance(data, kind):
        raise ValueError(f"{path}: holds a JSON {type(data).__name__}; accepted: a JSON "
                         f"{'object' if kind is dict else kind.__name__}")
    return data
