"""`keras-resnet-cifar check-export`: validate an exported model the way TF Serving will meet it."""


def register(subparsers):
    parser = subparsers.add_parser(
        "check-export", help="validate an export: layout, signatures, warmup, and run both signatures",
        description="Exit status 0 when every check passes; otherwise the first failed check is reported.")
    parser.add_argument("path", metavar="saved_models/NAME[/VERSION]",
                        help="a model folder (checks every version) or one version folder")
    parser.set_defaults(func=run)


def run(args):
    # Lazy: serving.check imports TensorFlow (to load the SavedModel), which `--help` must not wait for.
    from keras_resnet_cifar.serving.check import check_export

    lines = check_export(args.path, log=lambda line: print(f"ok  {line}", flush=True))
    print(f"{args.path}: all {len(lines)} checks passed")
