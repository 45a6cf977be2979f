"""Processes started together on 127.0.0.1 for the distributed tests (training workers, a search's chief and
workers): free ports, a deadline for all of them, each one's exit time and output, and none left running."""
import contextlib
import os
import socket
import subprocess
import time

import pytest


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class Cluster:
    """`commands` ([(argv, {extra environment})]) started at once, each writing to LOG_DIR/<tag><i>.log."""

    def __init__(self, commands, log_dir, tag):
        self.processes, self.logs, self.ended = [], [], []
        for index, (argv, extra) in enumerate(commands):
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
                   **extra}
            self.logs.append(open(os.path.join(log_dir, f"{tag}{index}.log"), "w+", encoding="utf-8"))
            self.processes.append(subprocess.Popen(argv, stdout=self.logs[-1], stderr=subprocess.STDOUT, env=env))
            self.ended.append(None)

    def wait(self, timeout):
        """Exit statuses once every process has ended (`ended` holds when each did, time.time()); fails, with
        the outputs, when one is still running after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while None in self.ended and time.monotonic() < deadline:
            for index, process in enumerate(self.processes):
                if self.ended[index] is None and process.poll() is not None:
                    self.ended[index] = time.time()
            time.sleep(0.05)
        if None in self.ended:
            pytest.fail(f"still running after {timeout} s:\n{self.outputs()}")
        return [process.returncode for process in self.processes]

    def output(self, index):
        """Everything process `index` has printed so far."""
        self.logs[index].flush()
        self.logs[index].seek(0)
        return self.logs[index].read()

    def outputs(self):
        """The last lines of every process's output, for a failure's message."""
        return "\n".join(f"--- process {i}:\n" + "\n".join(self.output(i).splitlines()[-40:])
                         for i in range(len(self.processes)))

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for log in self.logs:
            log.close()


@contextlib.contextmanager
def cluster(commands, log_dir, tag):
    """A `Cluster` whose processes are killed, if still running, when the block ends."""
    started = Cluster(commands, log_dir, tag)
    try:
        yield started
    finally:
        started.close()
