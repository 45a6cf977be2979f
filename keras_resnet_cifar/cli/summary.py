"""`keras-resnet-cifar summary`: per-stage sizes, parameters and MACs; optional architecture plot."""
from keras_resnet_cifar.cli.common import add_model_args, model_kwargs


def register(subparsers):
    parser = subparsers.add_parser("summary", help="per-stage table of a network (no TensorFlow needed)")
    add_model_args(parser, default_preset="resnet24")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the architecture (Figure 14) with keras.utils.plot_model")
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet_cifar.summary import format_summary, plot_architecture
    from keras_resnet_cifar.spec import ResNetSpec

    kwargs = model_kwargs(args)
    spec = ResNetSpec.create(**kwargs)
    print(format_summary(spec))
    if args.plot:
        plot_architecture(spec, args.plot)
        print(f"architecture written to {args.plot}")
