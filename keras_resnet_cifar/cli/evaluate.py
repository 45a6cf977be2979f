"""`keras-resnet-cifar evaluate RUN_DIR|MODEL.keras`: re-evaluate a model on the test split alone."""
from keras_resnet_cifar.cli.options import add_config_args, config_changes
from keras_resnet_cifar.training.evaluate import evaluate
from keras_resnet_cifar.errors import UserError


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="test accuracy, per-class accuracy and confusion matrix of a run or a .keras model",
        description="Writes evaluation.json, confusion.png and (for a run) history.png into the run directory or "
                    "--out; a run's metrics.json, written by train, is left as it is. The run's config.json says "
                    "where its data comes from; --source / --data-dir change that.")
    parser.add_argument("path", metavar="RUN_DIR|MODEL.keras", help="a run directory (its best.keras) or a .keras file")
    add_config_args(parser, sections=("data",), base=False)
    parser.add_argument("--out", metavar="DIR", help="where to write the results (default beside the model)")
    parser.add_argument("--eval-batch-size", type=int, default=256, help="images per evaluation batch (default 256)")
    parser.set_defaults(func=run)


def run(args):
    if args.eval_batch_size < 1:
        raise UserError(f"--eval-batch-size: received {args.eval_batch_size}; accepted: an integer >= 1")
    result = evaluate(args.path, data_changes=config_changes(args).get("data", {}), out_dir=args.out,
                      batch_size=args.eval_batch_size)
    for name, accuracy in result["per_class_accuracy"].items():
        print(f"  {name:<12} {'n/a' if accuracy is None else f'{accuracy:.4f}'}")
    return 0
