"""The Python half of benchmarks/gpu_repro.sh: one `keras-resnet-cifar train` run, and the summary.

    python benchmarks/gpu_repro.py run RUN_DIR RESULT_DIR TARGET -- TRAIN_FLAGS...
    python benchmarks/gpu_repro.py summarize RESULTS_DIR [--peak-tflops 790]

`run` is the CLI's `train` with one observer added: the first epoch whose validation accuracy
reaches TARGET saves that model (first_target.keras), so its test accuracy can be reported
besides the best-validation checkpoint's; the observer changes nothing else. It then copies
metrics.json, history.csv and config.json into RESULT_DIR and writes run.json there (the flags,
wall-clock seconds, exit status, the first-target epoch with its seconds and test accuracy).

`summarize` reads every RESULT_DIR/*/run.json and writes summary.json and summary.txt: per run
test accuracy, images/s, seconds per epoch, time to TARGET; per recipe mean +- std over seeds;
the share of the GPU's bf16 peak (6 x MACs per trained image: forward + backward).
"""
import json
import os
import shutil
import signal
import statistics
import sys
import time

START = time.time()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _write_json(path, obj):
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(temp, path)


def run(run_dir, result_dir, target, flags):
    """Train with the CLI (flags + --workdir run_dir), observing the first epoch at `target` validation accuracy."""
    import keras

    from keras_resnet_cifar import cli
    from keras_resnet_cifar.training import train as train_module

    first = {}
    model_path = os.path.join(run_dir, "first_target.keras")

    class FirstTarget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            first.setdefault("train_begin_s", round(time.time() - START, 3))

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if not first.get("epoch") and value is not None and value >= target:
                first.update(epoch=epoch + 1, val_accuracy=float(value), since_start_s=round(time.time() - START, 3))
                self.model.save(model_path)

    original = train_module.train

    def observed(*args, **kwargs):
        kwargs["callbacks"] = (*kwargs.get("callbacks", ()), FirstTarget())
        return original(*args, **kwargs)

    def stop(signum, frame):  # `timeout` at the budget's end: keep what the run has so far
        raise SystemExit(f"stopped by signal {signum}")

    train_module.train = observed  # the CLI looks `train` up when it runs
    signal.signal(signal.SIGTERM, stop)
    os.makedirs(result_dir, exist_ok=True)
    status = "stopped"
    try:
        status = cli.main(["train", *flags, "--workdir", run_dir])
        if first.get("epoch") and os.path.exists(model_path):
            from keras_resnet_cifar.training.evaluate import evaluate

            result = evaluate(model_path, out_dir=os.path.join(run_dir, "first_target"), verbose=False)
            first["test_accuracy"] = result["test_accuracy"]
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for name in ("metrics.json", "history.csv", "config.json"):
            if os.path.exists(os.path.join(run_dir, name)):
                shutil.copyfile(os.path.join(run_dir, name), os.path.join(result_dir, name))
        _write_json(os.path.join(result_dir, "run.json"), {
            "flags": flags, "returncode": status, "wall_s": round(time.time() - START, 3), "target": target,
            "first_target": first or None, "backend": keras.backend.backend()})
    return status


def _history(path):
    import csv

    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _macs(config):
    from keras_resnet_cifar import count_macs

    model = config["model"]
    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in model.items() if k not in ("blocks", "channels")}
    return count_macs(list(model["blocks"]), list(model["channels"]), **options)


def describe(name, folder, target, peak_tflops):
    """One run's row of the summary."""
    record = json.load(open(os.path.join(folder, "run.json"), encoding="utf-8"))
    metrics_path = os.path.join(folder, "metrics.json")
    metrics = json.load(open(metrics_path, encoding="utf-8")) if os.path.exists(metrics_path) else {}
    config = json.load(open(os.path.join(folder, "config.json"), encoding="utf-8"))
    history = _history(os.path.join(folder, "history.csv"))
    seconds = [row["seconds"] for row in history]
    reached = next((i for i, row in enumerate(history) if row.get("val_accuracy", -1) >= target), None)
    rate = metrics.get("train_images_per_second")
    macs = _macs(config)
    first = record.get("first_target") or {}
    return {
        "run": name, "recipe": name.rsplit("-", 1)[0], "seed": config["seed"], "finished": bool(metrics),
        "returncode": record["returncode"], "epochs": len(history), "batch_size": config["optim"]["batch_size"],
        "test_accuracy": metrics.get("test_accuracy"), "best_val_accuracy": metrics.get("best_val_accuracy"),
        "best_epoch": metrics.get("best_epoch"), "seconds_per_epoch": metrics.get("seconds_per_epoch"),
        "train_images_per_second": rate,
        "bf16_peak_share": round(rate * 6 * macs / (peak_tflops * 1e12), 4) if rate else None,
        "macs_per_image": macs, "wall_s": record["wall_s"], "epochs_seconds": round(sum(seconds), 3),
        # time to target: from the start of training (history's per-epoch seconds, first epoch's compile
        # included), and from the process start (imports, data loading and model building included)
        "target": target, "target_epoch": None if reached is None else reached + 1,
        "time_to_target_s": None if reached is None else round(sum(seconds[:reached + 1]), 3),
        "time_to_target_from_process_start_s": first.get("since_start_s"),
        "test_accuracy_at_target": first.get("test_accuracy"),
        "device": metrics.get("device"), "backend": metrics.get("backend") or record.get("backend"),
        "mixed_precision": metrics.get("mixed_precision"), "versions": metrics.get("versions"),
    }


def summarize(results_dir, peak_tflops=790.0):
    runs = []
    for name in sorted(os.listdir(results_dir)):
        folder = os.path.join(results_dir, name)
        if os.path.isfile(os.path.join(folder, "run.json")) and os.path.isfile(os.path.join(folder, "config.json")):
            record = json.load(open(os.path.join(folder, "run.json"), encoding="utf-8"))
            runs.append(describe(name, folder, record["target"], peak_tflops))
    recipes = {}
    for row in runs:
        if row["test_accuracy"] is not None and row["epochs"]:
            recipes.setdefault(row["recipe"], []).append(row)
    groups = {}
    for recipe, rows in recipes.items():
        accuracy = [r["test_accuracy"] for r in rows]
        times = [r["time_to_target_s"] for r in rows if r["time_to_target_s"] is not None]
        groups[recipe] = {
            "seeds": [r["seed"] for r in rows], "n": len(rows),
            "test_accuracy_mean": round(statistics.mean(accuracy), 4),
            "test_accuracy_std": round(statistics.stdev(accuracy), 4) if len(rows) > 1 else None,
            "train_images_per_second_mean": round(statistics.mean(r["train_images_per_second"] for r in rows), 1),
            "seconds_per_epoch_mean": round(statistics.mean(r["seconds_per_epoch"] for r in rows), 3),
            "time_to_target_s_min": min(times) if times else None,
        }
    summary = {"runs": runs, "recipes": groups, "peak_tflops": peak_tflops,
               "device": next((r["device"] for r in runs if r["device"]), None)}
    _write_json(os.path.join(results_dir, "summary.json"), summary)
    text = format_summary(summary)
    with open(os.path.join(results_dir, "summary.txt"), "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text, end="")
    return summary


def format_summary(summary):
    def number(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [f"device: {summary['device']}", "",
             f"{'run':<16} {'epochs':>6} {'test acc':>9} {'best val':>9} {'img/s':>9} {'s/epoch':>8} "
             f"{'peak %':>7} {'t->target s':>11} {'acc@target':>10} {'wall s':>7}"]
    for r in summary["runs"]:
        share = None if r["bf16_peak_share"] is None else 100 * r["bf16_peak_share"]
        lines.append(f"{r['run']:<16} {r['epochs']:>6} {number(r['test_accuracy'], '.4f'):>9} "
                     f"{number(r['best_val_accuracy'], '.4f'):>9} {number(r['train_images_per_second'], ',.0f'):>9} "
                     f"{number(r['seconds_per_epoch'], '.2f'):>8} {number(share, '.1f'):>7} "
                     f"{number(r['time_to_target_s'], '.1f'):>11} {number(r['test_accuracy_at_target'], '.4f'):>10} "
                     f"{r['wall_s']:>7.0f}" + ("" if r["finished"] else "  (unfinished)"))
    lines.append("")
    for recipe, g in summary["recipes"].items():
        std = "" if g["test_accuracy_std"] is None else f" +- {g['test_accuracy_std']:.4f}"
        lines.append(f"{recipe}: test accuracy {g['test_accuracy_mean']:.4f}{std} over seeds {g['seeds']}, "
                     f"{g['train_images_per_second_mean']:,.0f} images/s, {g['seconds_per_epoch_mean']:.2f} s/epoch, "
                     f"fastest time to target {number(g['time_to_target_s_min'], '.1f')} s")
    target = summary["runs"][0]["target"] if summary["runs"] else None
    lines.append(f"(target = validation accuracy {target}; time to target counts each epoch's training and "
                 "validation seconds from the start of training, compile included)")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) >= 4 and argv[0] == "run" and "--" in argv:
        split = argv.index("--")
        run_dir, result_dir, target = argv[1], argv[2], float(argv[3])
        return run(run_dir, result_dir, target, argv[split + 1:])
    if len(argv) in (2, 4) and argv[0] == "summarize":
        peak = float(argv[3]) if len(argv) == 4 and argv[2] == "--peak-tflops" else 790.0
        summarize(argv[1], peak)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
