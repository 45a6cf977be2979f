"""`keras-resnet-cifar summary`: per-stage sizes, parameters and MACs; optional architecture plot."""
from keras_resnet_cifar.cli.options import add_config_args, config_from_args
from keras_resnet_cifar import network_summary


def register(subparsers):
    parser = subparsers.add_parser("summary", help="per-stage table of a network (no TensorFlow needed)")
    add_config_args(parser, sections=("model",))  # default: the study's resnet24
    parser.add_argument("--plot", metavar="FILE.png", help="draw the architecture (Figure 14) with keras.utils.plot_model")
    parser.set_defaults(func=run)


def run(args):
    spec = config_from_args(args).model
    print(network_summary.format_summary(spec))
    if args.plot:
        network_summary.plot_architecture(spec, args.plot)
        print(f"architecture written to {args.plot}")
