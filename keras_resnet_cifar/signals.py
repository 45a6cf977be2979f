"""Graceful stop: SIGTERM and SIGINT ask a run to stop at its next safe point; a second one ends it at once.

`stop_requests()` installs the handlers for a block and yields the `StopRequest` that the run
polls. `train` polls it at every batch end (`callbacks.StopOnSignal`): it saves a resume point
there, mid-epoch, and raises `errors.Interrupted`; `tune` polls it in each trial's batches and
stops without saving (the interrupted trial runs again on resume). The CLI then exits with
128 + the signal number (143 for SIGTERM, 130 for SIGINT) and prints the command that resumes.

A second signal restores the default action and sends itself again: the process ends at once.
Every file is written atomically, so that leaves the last committed state (the previous epoch or
resume point) intact. Handlers can only be set in the main thread; elsewhere (a thread that runs
`train`) the block installs nothing and signals act as they would without it.
"""
import contextlib
import os
import signal
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
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
