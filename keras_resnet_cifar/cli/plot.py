"""`keras-resnet-cifar plot KIND`: draw one of the study's figures to a PNG.

Each kind is an entry of `KINDS`: name -> (help, register(parser), run(args) -> Figure). Add a figure by
adding one; the figure itself is made in `plots/`. The plot modules import matplotlib (and most Keras),
so each is imported when its kind runs: `--help` stays fast.
"""
from keras_resnet_cifar.cli.options import add_config_args, config_from_args
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.training.rundir import Run
from keras_resnet_cifar.errors import UserError


def _register_augmentations(parser):
    add_config_args(parser, sections=("data", "data.augment", ""))
    parser.add_argument("--count", type=int, default=4, help="images (rows) to show (default 4)")


def _run_augmentations(args):
    from keras_resnet_cifar.plots.augmentations import STUDY_STRENGTHS, plot_config_augmentations

    # Without --config, noise and mixup are shown at the study's strengths (its Figure 10).
    config = config_from_args(args, None if args.config else TrainConfig(data={"augment": STUDY_STRENGTHS}))
    return plot_config_augmentations(config, count=args.count)


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

    optim = config_from_args(args).optim
    return plot_schedules(epochs=optim.epochs, optim=optim, log_scale=args.log)


def _register_runs(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training run folders (history.csv)")


def _run_history(args):
    from keras_resnet_cifar.plots.history import plot_run_folders

    return plot_run_folders(args.runs)


def _register_run(parser):
    parser.add_argument("run", metavar="RUN_DIR", help="a training run folder")


def _register_weights(parser):
    _register_run(parser)
    parser.add_argument("--max-epochs", type=int, default=10, help="epochs drawn, evenly spaced (default 10)")


def _run_weights(args):
    from keras_resnet_cifar.plots.weights import plot_weights

    return plot_weights(args.run, max_epochs=args.max_epochs)


def _run_confusion(args):
    from keras_resnet_cifar.plots.confusion import plot_run_confusion

    return plot_run_confusion(args.run)


def _register_gradcam(parser):
    parser.add_argument("model", metavar="RUN_DIR|MODEL.keras", help="a run folder (its best.keras) or a .keras file")
    parser.add_argument("--images", type=int, default=4, help="test images to explain (default 4)")
    add_config_args(parser, sections=("data", ""), base=False)  # the run's config.json is the base


def _run_gradcam(args):
    from keras_resnet_cifar.plots.gradcam import plot_run_gradcam

    run = Run.open(args.model)
    return plot_run_gradcam(run, config_from_args(args, run.config() or TrainConfig()), count=args.images)


def _register_architecture(parser):
    add_config_args(parser, sections=("model",))  # default: the study's resnet24


def _run_architecture(args):
    from keras_resnet_cifar.plots.architecture import architecture_figure

    return architecture_figure(config_from_args(args).model)


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
    if not args.out.lower().endswith(".png"):
        raise UserError(f"--out: received {args.out!r}; accepted: a path ending in .png")
    fig = args._run_kind(args)
    from keras_resnet_cifar.plots.comparison import save_figure  # matplotlib, loaded once a figure is drawn

    save_figure(fig, args.out)
    print(f"{args.kind} written to {args.out}")
