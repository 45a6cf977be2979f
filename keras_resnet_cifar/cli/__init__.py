"""`keras-resnet-cifar`: the command line. It parses arguments and delegates to the library.

Each subcommand lives in its own module here, exposing `register(subparsers)`.
"""
import argparse
import importlib
import os
import shlex
import sys

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ["summary", "train", "evaluate", "export", "check_export", "predict", "experiment", "report", "tune", "plot"]

from keras_resnet_cifar.errors import Interrupted, UserError



def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-resnet-cifar",
        description="Keras 3 ResNets for CIFAR-10: build, train, tune, export, serve.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"keras_resnet_cifar.cli.{name}").register(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except UserError as error:  # the package's refusals; anything else (a ValueError from Keras too) is a bug
        if os.environ.get("KERAS_RESNET_CIFAR_DEBUG"):
            raise
        print(f"keras-resnet-cifar {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stopped:  # SIGTERM/SIGINT: 128 + the signal, as a shell reports a process it ended
        command = shlex.join(["keras-resnet-cifar", *(sys.argv[1:] if argv is None else argv)])
        print(f"keras-resnet-cifar {args.command}: {stopped}\nresume with: {command}", file=sys.stderr)
        return stopped.exit_status
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
