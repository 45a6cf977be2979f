"""Graceful stop: SIGTERM and SIGINT ask a run to stop at its next safe point; a second one ends it at once.

`stop_requests()` installs the handlers for a block and yields the `StopRequest` that the run
polls. `train` polls it at every batch end (`callbacks.StopOnSignal`): it saves a resume point
there, mid-epoch, and raises `errors.Interrupted`; `tune` polls it in each trial's batches and
stops without saving (the interrupted trial runs again on resume). The CLI then exits with
128 + the signal number (143 for SIGTERM, 130 for SIGINT) and prints the command that resumes.

A second signal ends the process at once, as the signal would without us. Python runs a handler only
when the main thread returns to the interpreter, so a main thread blocked in native code (a worker that
waits inside TensorFlow's C++ for a peer that never comes) would never see either signal: the handlers
are therefore installed with sigaction's SA_RESETHAND, and the kernel itself restores the default
action as the first signal arrives (Linux and macOS; elsewhere the handler does it when it runs).
Every file is written atomically, so that leaves the last committed state (the previous epoch or
resume point) intact. Handlers can only be set in the main thread; elsewhere (a thread that runs
`train`) the block installs nothing and signals act as they would without it.
"""
import contextlib
import ctypes
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Set by the first SIGTERM/SIGINT within `stop_requests`: `signum` (None until then) and its `name`."""

    def __init__(self):
        self.signum = None

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum else None

    def __bool__(self):
        return self.signum is not None

    def __deepcopy__(self, memo):  # one flag, shared: Keras Tuner deep-copies each trial's callbacks
        return self


@contextlib.contextmanager
def stop_requests(note=""):
    """Within the block the first SIGTERM or SIGINT sets the yielded `StopRequest`; a second one ends the process.

    Args:
        note: what the stop will do, printed when the signal arrives, e.g. " and saving a resume point".

    Example:
        >>> with stop_requests() as stop:
        ...     for step in range(100):
        ...         if stop:
        ...             break  # save, then stop
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame):
        if request.signum is not None:  # the second: end now, as the signal would without us
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        request.signum = signum
        # A raw write: print() here could re-enter a print (a progress bar) that the signal interrupted.
        os.write(2, f"\n{signal.Signals(signum).name}: stopping at the next batch end{note}; send it again to stop "
                    "at once (the last saved state is kept)\n".encode())

    previous = {number: signal.signal(number, handle) for number in SIGNALS}
    for number in SIGNALS:
        reset_on_arrival(number)
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


class _Sigaction(ctypes.Structure):
    """The C library's `struct sigaction` (Linux glibc and musl: handler, 128-byte mask, flags, restorer)."""
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * (128 // ctypes.sizeof(ctypes.c_ulong))),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


class _DarwinSigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_uint32), ("flags", ctypes.c_int)]


# platform: (struct, SA_ONSTACK, SA_RESETHAND). Python installs every handler with SA_ONSTACK, which
# confirms the struct was read right before one bit of it is changed.
_SIGACTION = {"linux": (_Sigaction, 0x08000000, 0x80000000), "darwin": (_DarwinSigaction, 0x1, 0x4)}


def reset_on_arrival(signum):
    """Add SA_RESETHAND to `signum`'s installed Python handler: the kernel restores the default action when the
    signal arrives, so a second one ends the process even if the main thread never runs the handler.

    Returns:
        True if set; False where the platform's sigaction is not known here (the handler then does it).
    """
    layout = next((known for prefix, known in _SIGACTION.items() if sys.platform.startswith(prefix)), None)
    if layout is None:
        return False
    struct, onstack, resethand = layout
    libc = ctypes.CDLL(None, use_errno=True)
    action = struct()
    if libc.sigaction(int(signum), None, ctypes.byref(action)) != 0 or not action.flags & onstack:
        return False
    action.flags = ctypes.c_int(action.flags | resethand).value  # the bit is the sign bit on Linux
    return libc.sigaction(int(signum), ctypes.byref(action), None) == 0
