"""`keras-resnet-cifar predict`: send images to a TF Serving server and print the top classes."""
from keras_resnet_cifar.serving.client import ServingError
from keras_resnet_cifar.serving.predict import format_predictions, predict_files
from keras_resnet_cifar.serving.schema import DEFAULT_MODEL_NAME, SIGNATURE_INPUTS
from keras_resnet_cifar.errors import UserError


def register(subparsers):
    parser = subparsers.add_parser(
        "predict", help="classify image files with a model served by TF Serving (REST or gRPC)",
        description="REST: --server http://HOST:8501; gRPC: --server grpc://HOST:8500.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files of the model's size (32x32)")
    parser.add_argument("--server", required=True, help="http(s)://HOST:PORT (REST) or grpc://HOST:PORT")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help=f"served model name (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--version", type=int, help="a specific version (default: the newest served)")
    parser.add_argument("--signature", choices=sorted(SIGNATURE_INPUTS), default="serving_bytes",
                        help="serving_bytes sends the files as they are (default); serving_default decodes them "
                             "here and sends uint8 pixels")
    parser.add_argument("--top", type=int, default=3, help="classes to print per image (default 3)")
    parser.add_argument("--class-names", metavar="FILE.json",
                        help="the export's class_names.json, to name the runners-up too (the server names the top class)")
    parser.set_defaults(func=run)


def run(args):
    try:
        result = predict_files(args.images, args.server, model=args.model, version=args.version,
                               signature=args.signature)
    except ServingError as error:
        raise UserError(str(error)) from None  # one line for the user, not a traceback
    print(format_predictions(args.images, result, top=args.top, class_names_file=args.class_names))
