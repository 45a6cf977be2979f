"""Keras Tuner's chief/worker mode: who this process is, and the chief's oracle server.

Set by KERASTUNER_TUNER_ID ("chief", or a worker id without "chief"), KERASTUNER_ORACLE_IP
(the chief binds it, workers connect to it) and KERASTUNER_ORACLE_PORT; `keras-resnet-cifar
tune --chief/--worker ID` sets them, binding the chief to 127.0.0.1 unless told otherwise.
"""
import contextlib
import os
import time

from keras_resnet_cifar.errors import UserError, UserPermissionError

ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
LINGER = 5.0  # seconds the chief keeps answering, once the search is over, after the last request


@contextlib.contextmanager
def role_environment(*, chief=False, worker=None, oracle_ip=None, oracle_port=None):
    """Set Keras Tuner's KERASTUNER_* variables for this process's part, and restore them after.

    Without `chief` or `worker` nothing is set (variables set by hand still apply). The chief binds
    `oracle_ip` (default: KERASTUNER_ORACLE_IP, else 127.0.0.1, loopback only); a worker connects to it.

    Args:
        chief: serve the oracle (--chief).
        worker: this worker's id, without "chief" (--worker ID), or None.
        oracle_ip, oracle_port: the chief's address and port (default 8000).

    Example:
        >>> with role_environment(worker="gpu0", oracle_port=8001):
        ...     role()
        'worker'
    """
    if chief and worker:
        raise UserError(f"--chief and --worker: received both (worker {worker!r}); accepted: one of them")
    if not (chief or worker) and (oracle_ip or oracle_port):
        raise UserError("--oracle-ip/--oracle-port: received without --chief or --worker ID; accepted: "
                         "with one of them")
    if worker and "chief" in worker:
        raise UserError(f"--worker: received {worker!r}; accepted: an id without 'chief' (Keras Tuner "
                         "reads such ids as the chief), e.g. gpu0")
    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    try:
        if chief or worker:
            os.environ["KERASTUNER_TUNER_ID"] = "chief" if chief else worker
            os.environ["KERASTUNER_ORACLE_IP"] = oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
            os.environ["KERASTUNER_ORACLE_PORT"] = str(oracle_port or os.environ.get("KERASTUNER_ORACLE_PORT") or 8000)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def role():
    """This process's part: "chief", "worker" or "standalone", from the KERASTUNER_* variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "standalone"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)]
    if missing:
        raise UserError(f"distributed search: KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not; "
                         "accepted: all three variables, or --chief / --worker ID with --oracle-port")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def serve_oracle(oracle, poll=0.5, linger=LINGER):
    """Serve `oracle` to the workers until every one has been told to stop, and no request has come for
    `linger` seconds.

    Keras Tuner's `start_server` re-checks only every 20 s once the search is over and cannot report a
    port it failed to bind; this is the same servicer and loop without both. It also ends the moment the
    first worker to ask is told to stop when no other is running a trial, so a worker that starts a
    little later (rerunning a finished search, the three commands started together) would wait an hour
    (Keras Tuner's gRPC timeout) for a chief that has gone: the chief lingers `linger` seconds for it.
    """
    from concurrent import futures

    # grpc and Keras Tuner's private modules: only the chief needs them, and the tune command imports
    # this module at start-up (--help stays fast).
    import grpc
    from keras_resnet_cifar.tuning.compat import OracleServicer, exit_chief, get_service_grpc

    class LastRequest(grpc.ServerInterceptor):
        def __init__(self):
            self.at = time.monotonic()

        def intercept_service(self, continuation, handler_call_details):
            self.at = time.monotonic()
            return continuation(handler_call_details)

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    last = LastRequest()
    # No SO_REUSEPORT: a second chief on the same port must fail, not share it silently.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[last],
                         options=[("grpc.so_reuseport", 0)])
    servicer = OracleServicer(oracle)
    get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise UserPermissionError(f"--oracle-port: cannot listen on {address} (in use, or not an address of this "
                              "host); accepted: a free port and a local address (--oracle-ip, --oracle-port)")
    server.start()
    print(f"tune: chief serving the oracle on {address}; start the workers (--worker ID)", flush=True)
    try:
        while not (servicer.stop_triggered and exit_chief(oracle) and time.monotonic() - last.at >= linger):
            time.sleep(poll)
    finally:
        server.stop(grace=1)
