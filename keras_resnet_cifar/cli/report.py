"""`keras-resnet-cifar report DIR... --out REPORT.md`: experiments, runs and figures as Markdown."""
from keras_resnet_cifar.report import report


def register(subparsers):
    parser = subparsers.add_parser(
        "report", help="a Markdown report of experiment, run and figure folders",
        description="Each DIR is an experiment folder (experiment.json), a training run (metrics.json) or a "
                    "folder of PNG figures. The report gives each experiment's commands, results table "
                    "(mean ± std over seeds) and figures, with the data source, devices and versions the runs recorded.")
    parser.add_argument("dirs", nargs="+", metavar="DIR")
    parser.add_argument("--out", default="REPORT.md", help="the Markdown file to write (default REPORT.md)")
    parser.set_defaults(func=run)


def run(args):
    report(args.dirs, args.out)
    print(f"wrote {args.out}")
    return 0
