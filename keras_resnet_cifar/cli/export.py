"""`keras-resnet-cifar export`: a run directory or `.keras` file -> saved_models/NAME/VERSION for TF Serving."""
from keras_resnet_cifar.serving.schema import DEFAULT_MODEL_NAME
from keras_resnet_cifar.serving.export import export_model


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained model as a versioned SavedModel for TF Serving",
        description="Write BASE/NAME/VERSION (signatures serving_default and serving_bytes, warmup records) "
                    "atomically, and list the model in BASE/models.config.")
    parser.add_argument("source", metavar="RUN_DIR|MODEL.keras",
                        help="a run directory holding best.keras, config.json and class_names.json, or a .keras file")
    parser.add_argument("--name", default=DEFAULT_MODEL_NAME,
                        help=f"served model name, TF Serving's MODEL_NAME (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--version", help="positive integer (default: the next free one)")
    parser.add_argument("--base", default="saved_models", help="TF Serving's model base path (default saved_models)")
    parser.add_argument("--force", action="store_true", help="replace the version if it exists")
    parser.set_defaults(func=run)


def run(args):
    export_model(args.source, args.name, version=args.version, base=args.base, force=args.force)
