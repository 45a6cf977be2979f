"""`keras-resnet-cifar plot KIND`: draw one of the study's figures to a PNG.

Each kind is an entry of `KINDS`: name -> (register(parser), run(args)). Add a figure by adding one.
"""
import os

from keras_resnet_cifar.cli.options import add_config_args, config_from_args


def _figure_config(args):
    """The config the flags describe; the augmentation figure shows noise and mixup at the study's 1.0."""
    from keras_resnet_cifar.config import TrainConfig

    if args.kind == "augmentations" and not getattr(args, "config", None):
        return config_from_args(args, TrainConfig(data={"augment": {"noise_std": 1.0, "mixup_alpha": 1.0}}))
    return config_from_args(args)


def _register_augmentations(parser):
    add_config_args(parser, sections=("data", "data.augment", ""))
    parser.add_argument("--count", type=int, default=4, help="images (rows) to show (default 4)")


def _run_augmentations(args):
    from keras_resnet_cifar.data import load_data
    from keras_resnet_cifar.plots.augmentations import plot_augmentations

    config = _figure_config(args)
    data = load_data(config.data, seed=config.seed, verbose=False)
    return plot_augmentations(data, count=args.count, noise_std=config.data.augment.noise_std,
                              mixup_alpha=config.data.augment.mixup_alpha, seed=config.seed, data_config=config.data)


def _register_none(parser):
    pass


def _run_activations(args):
    from keras_resnet_cifar.plots.activations import plot_activations

    return plot_activations()


def _register_schedules(parser):
    add_config_args(parser, sections=("optim",), skip=("schedule",))  # every schedule is drawn
    parser.add_argument("--log", action="store_true", help="logarithmic learning-rate axis")


def _run_schedules(args):
    from keras_resnet_cifar.plots.schedules import plot_schedules

    optim = _figure_config(args).optim
    return plot_schedules(epochs=optim.epochs, optim=optim, log_scale=args.log)


def _register_runs(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training run folders (history.csv)")


def _run_label(path):
    parts = os.path.normpath(path).split(os.sep)
    return os.path.join(*parts[-2:]) if parts[-1].startswith("seed") and len(parts) > 1 else parts[-1]


def _run_history(args):
    from keras_resnet_cifar.plots.comparison import plot_runs
    from keras_resnet_cifar.plots.history import plot_history, read_history

    paths = [os.path.join(run, "history.csv") for run in args.runs]
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"history: {path!r} does not exist; accepted: run folders written by `train`")
    if len(paths) == 1:
        return plot_history(paths[0], title=_run_label(args.runs[0]))
    return plot_runs({_run_label(run): read_history(path) for run, path in zip(args.runs, paths)})


def _register_run(parser):
    parser.add_argument("run", metavar="RUN_DIR", help="a training run folder")


def _register_weights(parser):
    _register_run(parser)
    parser.add_argument("--max-epochs", type=int, default=10, help="epochs drawn, evenly spaced (default 10)")


def _run_weights(args):
    from keras_resnet_cifar.plots.weights import plot_weights

    return plot_weights(args.run, max_epochs=args.max_epochs)


def _run_confusion(args):
    from keras_resnet_cifar.plots.confusion import plot_confusion
    from keras_resnet_cifar.training.rundir import Run

    run = Run.open(args.run)
    metrics = run.metrics()
    names = run.class_names(len(metrics["confusion_matrix"]))
    return plot_confusion(metrics["confusion_matrix"], names,
                          title=f"Confusion matrix, {metrics.get('num_test', '')} test images ({metrics.get('data_source')})")


def _register_gradcam(parser):
    parser.add_argument("model", metavar="RUN_DIR|MODEL.keras", help="a run folder (its best.keras) or a .keras file")
    parser.add_argument("--images", type=int, default=4, help="test images to explain (default 4)")
    add_config_args(parser, sections=("data", ""), base=False)  # the run's config.json is the base


def _run_gradcam(args):
    import numpy as np

    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.data import load_data, normalize_images
    from keras_resnet_cifar.plots.gradcam import plot_gradcam
    from keras_resnet_cifar.training.evaluate import check_classes
    from keras_resnet_cifar.training.rundir import Run

    run = Run.open(args.model)
    model = run.load_model()
    config = config_from_args(args, run.config() or TrainConfig())
    data = load_data(config.data.replace(val_fraction=0.0, train_subset=None), seed=config.seed, verbose=False)
    check_classes(run, data)
    count = min(args.images, len(data.test.labels))
    if count < 1:
        raise ValueError(f"--images: received {args.images}; accepted: an integer >= 1")
    pick = np.sort(np.random.default_rng(config.seed).choice(len(data.test.labels), count, replace=False))
    images, labels = data.test.images[pick], data.test.labels[pick]
    inputs = normalize_images(images, config.data)
    if model.output_shape[-1] != data.num_classes:
        raise ValueError(f"gradcam: the model outputs {model.output_shape[-1]} classes but the data has "
                         f"{data.num_classes}; pass the data the model was trained on (--data)")
    return plot_gradcam(model, images, inputs=inputs, labels=labels, class_names=data.class_names)


def _register_architecture(parser):
    add_config_args(parser, sections=("model",))  # default: the study's resnet24


def _run_architecture(args):
    import tempfile

    from matplotlib.figure import Figure
    from matplotlib.image import imread

    from keras_resnet_cifar.network_summary import plot_architecture

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "architecture.png")
        plot_architecture(config_from_args(args).model, path)
        image = imread(path)
    fig = Figure(figsize=(image.shape[1] / 100, image.shape[0] / 100), dpi=100)
    fig.figimage(image)
    return fig


KINDS = {
    "augmentations": ("Figure 10: each augmentation on a few training images", _register_augmentations,
                      _run_augmentations),
    "activations": ("Figure 7: the activations of Table 3 with their coefficients", _register_none, _run_activations),
    "schedules": ("Figure 5: the learning rate of each schedule", _register_schedules, _run_schedules),
    "history": ("Figures 4-6, 8, 11: loss and accuracy of one run, or several overlaid", _register_runs, _run_history),
    "weights": ("Figure 12: each stage's weight distribution across epochs", _register_weights, _run_weights),
    "gradcam": ("Figure 13: Grad-CAM of each stage's output on test images", _register_gradcam, _run_gradcam),
    "architecture": ("Figure 14: the network drawn by keras.utils.plot_model (needs pydot, Graphviz)",
                     _register_architecture, _run_architecture),
    "confusion": ("Figure 15: the test confusion matrix of a run (rows true)", _register_run, _run_confusion),
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
