"""`check_folder`: a folder argument is checked before any work, with the path, the problem and the fix."""
import os
import tempfile


def check_folder(path, flag, purpose, *, writable=True):
    """Raise unless `path` is (or can be created as) a folder, writable by this process if `writable`.

    Nothing is created: a missing folder is checked through its nearest existing parent.

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
        raise NotADirectoryError(
            f"{flag}: received {given!r}, {where}, not a folder; accepted: a folder (created if missing) for "
            f"{purpose}; fix: pass another {flag} or move that file away")
    if not writable:
        return
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=existing)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise PermissionError(
            f"{flag}: cannot write to {given!r} ({error.strerror or error} in {existing!r}); accepted: a folder "
            f"you can write to, for {purpose}; fix: pass another {flag} or change its permissions") from None
