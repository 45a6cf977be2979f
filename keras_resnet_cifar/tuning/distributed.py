"""Keras Tuner's chief/worker mode: who this process is, and the chief's oracle server.

Set by KERASTUNER_TUNER_ID ("chief", or a worker id without "chief"), KERASTUNER_ORACLE_IP
(the chief binds it, workers connect to it) and KERASTUNER_ORACLE_PORT; `keras-resnet-cifar
tune --chief/--worker ID` sets them, binding the chief to 127.0.0.1 unless told otherwise.
"""
import os
import time


def role():
    """This process's part: "chief", "worker" or "standalone", from the KERASTUNER_* variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "standalone"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)]
    if missing:
        raise ValueError(f"distributed search: KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not; "
                         "accepted: all three variables, or --chief / --worker ID with --oracle-port")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def serve_oracle(oracle, poll=0.5):
    """Serve `oracle` to the workers until every one has been told to stop.

    Keras Tuner's `start_server` re-checks only every 20 s once the search is over and
    cannot report a port it failed to bind; this is the same servicer and loop without both.
    """
    from concurrent import futures

    import grpc
    from keras_resnet_cifar.tuning.compat import OracleServicer, exit_chief, get_service_grpc

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    # No SO_REUSEPORT: a second chief on the same port must fail, not share it silently.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    servicer = OracleServicer(oracle)
    get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise PermissionError(f"--oracle-port: cannot listen on {address} (in use, or not an address of this "
                              "host); accepted: a free port and a local address (--oracle-ip, --oracle-port)")
    server.start()
    print(f"tune: chief serving the oracle on {address}; start the workers (--worker ID)", flush=True)
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=1)
