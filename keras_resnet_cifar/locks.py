"""One owner per folder: an OS lock (`fcntl.flock`) on a lock file, held while a process writes there.

The kernel drops the lock when its process ends, however it ends, so a kill -9 never leaves a
stale lock: the next process simply takes it. The lock file (holding the owner's pid, for the
message a second process prints) is never deleted, since deleting it would let two processes
lock two different files of one name.

Who holds what: `train` its run directory (RUN/.lock), `tune` its project (DIRECTORY/.PROJECT.lock,
beside the project, which --overwrite deletes; a distributed search's workers each hold
DIRECTORY/.PROJECT.WORKER_ID.lock instead), `export` its model base (BASE/.lock, while it picks
the version number and writes). On a file system without locks (some network mounts) the job
runs unprotected, with a warning.
"""
import contextlib
import errno
import os
import warnings

try:
    import fcntl
except ImportError:  # Windows: no flock; the folders are not locked there
    fcntl = None

from keras_resnet_cifar.errors import FolderBusyError

LOCK_NAME = ".lock"
# flock's answers on file systems without locks (some network mounts): the job runs, unprotected.
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


@contextlib.contextmanager
def hold_folder(folder, what, *, lock_file=None):
    """Hold `folder` for this process within the block; refuse at once if another process holds it.

    Args:
        folder: the folder (created if missing).
        what: the job, named in the refusal, e.g. "train".
        lock_file: the lock file's path. Default FOLDER/.lock.

    Raises:
        FolderBusyError: another process (or another open of it in this one) holds the folder.

    Example:
        >>> with hold_folder("runs/train", "train"):
        ...     pass  # write the run's files
    """
    folder = os.fspath(folder)
    path = os.fspath(lock_file) if lock_file else os.path.join(folder, LOCK_NAME)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # "a+": never truncates another holder's pid
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (BlockingIOError, PermissionError):
                handle.seek(0)
                raise FolderBusyError(_busy(folder, what, handle.read().strip())) from None
            except OSError as error:
                if error.errno not in _UNSUPPORTED:
                    raise
                warnings.warn(f"{path}: this file system does not support locks ({error.strerror}); {folder} is "
                              f"not protected from a second {what}", stacklevel=3)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # closing the last descriptor releases the lock


def _busy(folder, what, pid):
    holder = f"process {pid}" if pid.isdigit() else "another process"
    mine = " (this process)" if pid == str(os.getpid()) else ""
    return (f"{folder}: in use by {holder}{mine}, which holds its lock; a second {what} there would mix their "
            f"files. Fix: wait for that process to finish, stop it (kill {pid or 'PID'}), or use another folder")
