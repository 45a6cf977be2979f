"""`keras-resnet-cifar plot KIND`: draw one of the study's figures to a PNG.

Each kind is an entry of `KINDS`: name -> (register(parser), run(args)). Add a figure by adding one.
"""
from keras_resnet_cifar.cli.data_args import add_data_args, data_kwargs


def _register_augmentations(parser):
    add_data_args(parser)
    parser.add_argument("--count", type=int, default=4, help="images (rows) to show (default 4)")
    parser.add_argument("--noise-std", type=float, default=1.0,
                        help="noise std on normalized pixels (default 1.0, the study's var = 1)")
    parser.add_argument("--mixup-alpha", type=float, default=1.0, help="Beta(alpha, alpha) of mixup (default 1.0)")


def _run_augmentations(args):
    from keras_resnet_cifar.data import load_data
    from keras_resnet_cifar.plots.augmentations import plot_augmentations

    data = load_data(**data_kwargs(args), verbose=False)
    return plot_augmentations(data, count=args.count, noise_std=args.noise_std, mixup_alpha=args.mixup_alpha,
                              seed=args.seed)


KINDS = {
    "augmentations": ("Figure 10: each augmentation on a few training images", _register_augmentations,
                      _run_augmentations),
}


def register(subparsers):
    parser = subparsers.add_parser("plot", help="draw a figure of the study to a PNG")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, (help_text, register_kind, run_kind) in KINDS.items():
        sub = kinds.add_parser(name, help=help_text)
        register_kind(sub)
        sub.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
        sub.set_defaults(func=run, _run_kind=run_kind)


def run(args):
    from keras_resnet_cifar.plots.comparison import save_figure

    if not args.out.lower().endswith(".png"):
        raise ValueError(f"--out: received {args.out!r}; accepted: a path ending in .png")
    fig = args._run_kind(args)
    save_figure(fig, args.out)
    print(f"{args.kind} written to {args.out}")
