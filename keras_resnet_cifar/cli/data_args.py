"""`--data`, `--data-dir`, `--val-fraction`, `--train-subset`, `--seed`, `--resize`: for train, tune, plot, experiment."""


def add_data_args(parser, *, defaults=True):
    """Add the data-source options as a group; `defaults=False` leaves them None (a config decides).

    Example:
        >>> add_data_args(parser); load_data(**data_kwargs(parser.parse_args([])))
    """
    group = parser.add_argument_group("data")
    group.add_argument("--data", default="tfds" if defaults else None,
                       help="tfds (default), an image-folder tree ROOT/{train,test}/<class>/*.png|jpg, a "
                            ".tar.gz/.zip of one (e.g. ../shared/data/cifar10-jpeg.tar.gz), or cifar-10-python.tar.gz")
    group.add_argument("--data-dir", help="tfds data_dir, or the cache for extracted archives "
                                          "(default ~/.cache/keras_resnet_cifar)")
    group.add_argument("--val-fraction", type=float, default=0.1 if defaults else None,
                       help="share of train held out for validation, stratified (default 0.1; 0: none)")
    group.add_argument("--train-subset", type=int, metavar="N", help="keep N training images, stratified")
    group.add_argument("--seed", type=int, default=0 if defaults else None,
                       help="seeds the split (and the rest of the run) (default 0)")
    group.add_argument("--resize", action="store_true",
                       help="image folders: resize every image to 32x32 instead of refusing other sizes")
    return group


def data_kwargs(args):
    """`load_data` keyword arguments from parsed args (options left None are omitted)."""
    names = {"data": "data", "data_dir": "data_dir", "val_fraction": "val_fraction",
             "train_subset": "train_subset", "seed": "seed"}
    kwargs = {key: getattr(args, attr) for attr, key in names.items() if getattr(args, attr, None) is not None}
    if getattr(args, "resize", False):
        kwargs["resize"] = True
    return kwargs
