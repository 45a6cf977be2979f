"""`keras-resnet-cifar evaluate RUN_DIR|MODEL.keras`: re-evaluate a model on the test split alone."""


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="test accuracy, per-class accuracy and confusion matrix of a run or a .keras model",
        description="Writes evaluation.json, confusion.png and (for a run) history.png into the run directory or "
                    "--out; a run's metrics.json, written by train, is left as it is.")
    parser.add_argument("path", metavar="RUN_DIR|MODEL.keras", help="a run directory (its best.keras) or a .keras file")
    parser.add_argument("--data", help="where the test images come from (default: the run's config, else tfds)")
    parser.add_argument("--data-dir", help="tfds data_dir, or where archives are extracted")
    parser.add_argument("--out", metavar="DIR", help="where to write the results (default beside the model)")
    parser.add_argument("--batch-size", type=int, default=256, help="default 256")
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet_cifar.training.evaluate import evaluate

    if args.batch_size < 1:
        raise ValueError(f"--batch-size: received {args.batch_size}; accepted: an integer >= 1")
    result = evaluate(args.path, source=args.data, data_dir=args.data_dir, out_dir=args.out,
                      batch_size=args.batch_size)
    for name, accuracy in result["per_class_accuracy"].items():
        print(f"  {name:<12} {'n/a' if accuracy is None else f'{accuracy:.4f}'}")
    return 0
