"""The package's own error types. Every refusal of the user's input is a `UserError`; the CLI prints those
as one line (exit 2), and any other exception, a ValueError from TensorFlow or Keras included, is a bug
and keeps its traceback."""
import errno
import os
import shutil


class UserError(ValueError):
    """A problem the user can fix (the message says what was received, what is accepted and how to fix it).

    The base of the package's refusals; a ValueError, as such refusals were before. The subclasses below
    that also derive from a built-in error (FileNotFoundError, TypeError, ...) keep that type for callers
    that catch it.
    """


class UserFileNotFoundError(UserError, FileNotFoundError):
    """A path the user gave (or a file a run folder should hold) does not exist."""


class UserFileExistsError(UserError, FileExistsError):
    """A path the user gave already holds something the command will not overwrite."""


class UserNotADirectoryError(UserError, NotADirectoryError):
    """A path the user gave as a folder is a file (or lies below one)."""


class UserIsADirectoryError(UserError, IsADirectoryError):
    """A path the user gave as a file is a folder."""


class UserPermissionError(UserError, PermissionError):
    """A path or port the user gave cannot be written or used by this process."""


class UserTypeError(UserError, TypeError):
    """An argument of the Python API has a type the package does not accept."""


class DamagedFileError(UserError):
    """A file the package wrote (a `.keras` model, a weights file) is truncated or corrupt; the message
    names it and the fix."""


class FolderBusyError(UserError):
    """Another process holds the folder (a run directory, tuner project or export base): see `locks`."""


class StorageError(UserError, OSError):
    """A write failed for lack of space or a device error; the state it would have replaced is kept.

    An OSError too (its `errno` and `filename` set), so code that handles OSError still does.
    """

    def __init__(self, message, errno_=None, path=None):
        OSError.__init__(self, errno_, message, path)
        self.message = message

    def __str__(self):
        return self.message


class Interrupted(BaseException):
    """A run stopped by SIGTERM or SIGINT (see `signals`); a BaseException, so no `except Exception` (Keras
    Tuner's trial retry, for one) swallows it. `exit_status` is the shell's 128 + signal number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_status = 128 + self.signum


# A write's failure that freeing space or fixing the device cures; matched on errno, or on the text
# where h5py and TensorFlow report the C library's error without an errno.
_STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                   errno.EIO: "input/output error (a failing disk, or lost network storage)"}
_STORAGE_TEXTS = {"No space left on device": errno.ENOSPC, "errno = 28": errno.ENOSPC,
                  "Disk quota exceeded": errno.EDQUOT, "Input/output error": errno.EIO}


def storage_error(error, path, size=None):
    """The `StorageError` naming `path` that `error` (raised writing it) amounts to, or None if it is another error.

    Args:
        error: the exception the write raised (OSError, h5py's or TensorFlow's error, or a StorageError).
        path: the file or folder the write would have replaced (named in the message).
        size: bytes the write needed, if known; else the size of what it replaces is the estimate.
    """
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
    if code not in _STORAGE_ERRNOS:
        text = getattr(error, "message", None) or str(error)
        code = next((number for marker, number in _STORAGE_TEXTS.items() if marker in text), None)
    if code is None:
        return None
    path = os.fspath(path)
    need = max(size or 0, _size(path))  # what it replaces is the best estimate of what it needs
    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = f"{_human(shutil.disk_usage(folder).free)} free there"
    except OSError:
        free = "free space unknown"
    needed = f"at least {_human(need)}" if need else "space"
    fix = (f"free {needed} on that file system (or write elsewhere) and rerun" if code != errno.EIO
           else "check the disk or storage (dmesg), or write elsewhere, and rerun")
    return StorageError(f"{path}: the write failed: {_STORAGE_ERRNOS[code]} ({free}). The previous "
                        f"{os.path.basename(path)} (if any) is unchanged and the partial file was removed. Fix: {fix}",
                        code, path)


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, names in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in names)
    return total


def _human(count):
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
