"""Argument groups shared by several subcommands (the model's options, ...)."""
from keras_resnet_cifar.presets import PRESETS, get_preset
from keras_resnet_cifar.spec import ACTIVATIONS, BLOCK_ORDERS


def add_model_args(parser, *, default_preset=None):
    """The builder's options: `--preset` or `--blocks/--channels`, and the rest."""
    group = parser.add_argument_group("model")
    group.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help=f"a named configuration (Table 1){f'; default {default_preset}' if default_preset else ''}")
    group.add_argument("--blocks", type=int, nargs="+", help="residual units per stage, e.g. 3 3 2 3")
    group.add_argument("--channels", type=int, nargs="+", help="width per stage, e.g. 64 128 128 256")
    group.add_argument("--kernel-size", type=int, nargs="+", help="odd kernel size, one or one per stage (default 3)")
    group.add_argument("--skip-kernel", type=int, help="projection shortcut kernel (default 1)")
    group.add_argument("--pool-size", type=int, help="average pooling before the head (default 4)")
    group.add_argument("--block-order", help=f"BN/activation ordering: {', '.join(BLOCK_ORDERS)} or "
                       f"{', '.join(BLOCK_ORDERS.values())} (default a)")
    group.add_argument("--activation", help=f"{', '.join(ACTIVATIONS)} (default relu)")
    group.add_argument("--activation-coef", type=float, help="leaky_relu slope, elu alpha or swish beta")
    group.add_argument("--l1", type=float, help="L1 penalty on kernels (default 0)")
    group.add_argument("--l2", type=float, help="L2 penalty on kernels (default 0; PyTorch weight_decay wd = 2 * l2)")
    group.add_argument("--num-classes", type=int, help="default 10")
    parser.set_defaults(_default_preset=default_preset)


_OPTION_NAMES = ("kernel_size", "skip_kernel", "pool_size", "block_order", "activation",
                 "activation_coef", "l1", "l2", "num_classes")


def model_kwargs(args, base=None):
    """`build_resnet` keyword arguments from parsed args; flags given win over `base`."""
    kwargs = dict(base or {})
    preset = args.preset or (None if (args.blocks or args.channels or base) else args._default_preset)
    if preset:
        kwargs.update(get_preset(preset))
    if args.blocks is not None:
        kwargs["blocks"] = args.blocks
    if args.channels is not None:
        kwargs["channels"] = args.channels
    if "blocks" not in kwargs or "channels" not in kwargs:
        raise ValueError(
            f"model: received blocks={args.blocks} channels={args.channels}; accepted: --preset NAME "
            f"({', '.join(sorted(PRESETS))}) or both --blocks and --channels, e.g. --blocks 3 3 2 3 --channels 64 128 128 256"
        )
    for name in _OPTION_NAMES:
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value[0] if name == "kernel_size" and len(value) == 1 else value
    return kwargs
