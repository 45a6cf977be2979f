"""`report(DIR..., out)`: a Markdown report of experiments, runs and figures, with their provenance.

Each DIR is one of:
- an experiment folder (experiment.json): its commands, arguments, results table
  (mean ± std over seeds) and figures;
- a training run (metrics.json): its metrics and figures;
- any other folder: its PNG figures.
The report names the data (official CIFAR-10 or the JPEG copy), the devices and the
package versions recorded by the runs, so every number says where it comes from.
"""
import glob
import json
import os
import time

from keras_resnet_cifar.experiments import RECORD, RESULTS, read_results, run_dir
from keras_resnet_cifar.files import read_json, write_text
from keras_resnet_cifar.training.rundir import CONFIG, METRICS, Run, is_finished
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError


def report(dirs, out):
    """Write a Markdown report of `dirs` to `out` (atomically) and return its text.

    Args:
        dirs: experiment folders, run folders or folders of figures.
        out: the .md file to write; figure links are relative to its folder.

    Returns:
        str, the Markdown written.

    Example:
        >>> report(["experiments/orderings", "figures"], "REPORT.md")
    """
    if not dirs:
        raise UserError("report: received no folder; accepted: one or more experiment, run or figure folders")
    for folder in dirs:
        if not os.path.isdir(folder):
            raise UserFileNotFoundError(f"report: received {os.fspath(folder)!r}, which is not a folder; accepted: "
                                    "experiment folders (experiment.json), run folders (metrics.json) or figure folders")
    base = os.path.dirname(os.path.abspath(out))
    sections, runs = [], {}
    for folder in map(os.fspath, dirs):
        if os.path.exists(os.path.join(folder, RECORD)):
            text, found = _experiment_section(folder, base)
        elif is_finished(folder):
            text, found = _run_section(folder, base)
        else:
            text, found = _figures_section(folder, base), {}
        sections.append(text)
        runs.update(found)
    header = [
        "# Reproducing the study with keras-resnet-cifar",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `keras-resnet-cifar report "
        f"{' '.join(map(os.fspath, dirs))} --out {os.fspath(out)}`.",
        "Accuracies are mean ± sample standard deviation over seeds; a single seed has no spread.",
        "",
        "## Provenance",
        "",
        *_provenance(list(runs.values())),
    ]
    text = "\n".join(header + [""] + sections).rstrip() + "\n"
    write_text(out, text)
    return text


def _provenance(runs):
    if not runs:
        return ["No training run in these folders."]
    lines = [f"- Training runs: {len(runs)}"]
    for key, title in (("data_source", "Data"), ("device", "Device")):
        values = sorted({str(m.get(key, "not recorded")) for m in runs})
        lines.append(f"- {title}: " + "; ".join(values))
    versions = sorted({json.dumps(m.get("versions", {}), sort_keys=True) for m in runs})
    for value in versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in json.loads(value).items()))
    if any("jpeg" in str(m.get("data_source", "")).lower() for m in runs):
        lines.append("- Note: the JPEG copy of CIFAR-10 has exact labels but re-encoded pixels (about 30.5 dB "
                     "PSNR); its accuracies are lower than on the official release (about 3.5 points for the "
                     "fast recipe's 15-minute tier) and not comparable with published figures.")
    return lines


def _pct(mean, std):
    if mean in (None, ""):
        return "n/a"
    return f"{100 * float(mean):.2f}" + ("" if std in (None, "") else f" ± {100 * float(std):.2f}")


def _seconds(value):
    return "n/a" if value is None else f"{float(value):.1f}"


def _figures(folder, base):
    paths = sorted(glob.glob(os.path.join(folder, "*.png")))
    return [f"![{os.path.basename(p)}]({os.path.relpath(os.path.abspath(p), base)})" for p in paths]


def _experiment_section(folder, base):
    record = read_json(os.path.join(folder, RECORD), dict)
    args, cells, seeds = record.get("arguments", {}), record.get("cells", []), record.get("seeds", 1)
    folders = [run_dir(folder, cell, k) for cell in cells for k in range(seeds)]
    runs = dict(_keyed(Run.open(run)) for run in folders if is_finished(run))
    where = {key: "; ".join(sorted({str(m.get(key)) for m in runs.values()})) or "no finished run"
             for key in ("data_source", "device")}
    epochs = args.get("epochs") or record.get("base_config", {}).get("optim", {}).get("epochs")
    stretched = "; schedule stretched to the epochs" if args.get("scale_schedule") and args.get("epochs") else ""
    lines = [f"## {record.get('figure', '')}: {record.get('title', record.get('experiment'))}", "",
             f"Experiment `{record.get('experiment')}` in `{folder}`. Commands that produced it:", "", "```",
             *record.get("commands", []), "```", "",
             f"Presets {', '.join(args.get('presets', []))}; epochs {epochs}; training images "
             f"{args.get('train_subset') or 'all'}; seeds {seeds}{stretched}. "
             f"Data: {where['data_source']}. Device: {where['device']}.", ""]
    results = os.path.join(folder, RESULTS)
    rows = read_results(results) if os.path.exists(results) else []
    missing = [c for c in cells if c not in {r["cell"] for r in rows}]
    lines += ["| cell | setting | runs | best val acc % | test acc % | params | epochs | s/epoch |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['label']} | {r['runs']} | "
                     f"{_pct(r['best_val_accuracy_mean'], r['best_val_accuracy_std'])} | "
                     f"{_pct(r['test_accuracy_mean'], r['test_accuracy_std'])} | {r['trainable_params']:,} | "
                     f"{r['epochs']} | {_seconds(r['seconds_per_epoch_mean'])} |")
    if missing:
        lines += ["", f"Not finished (rerun the command to complete): {', '.join(missing)}"]
    lines += ["", *_figures(folder, base), ""]
    return "\n".join(lines), runs


def _keyed(run):
    """(key, metrics) of a finished `Run`: the key, its metrics file's absolute path, counts a run once."""
    return os.path.abspath(run.path(METRICS)), run.metrics()


def _run_section(folder, base):
    key, metrics = _keyed(Run.open(folder))
    lines = [f"## Run `{folder}`", "",
             f"Reproduce: `keras-resnet-cifar train --config {os.path.join(folder, CONFIG)} --workdir DIR`", "",
             "| best val acc % | best epoch | test acc % | test loss | params | epochs | s/epoch |",
             "|---|---|---|---|---|---|---|",
             f"| {_pct(metrics.get('best_val_accuracy'), None)} | {metrics.get('best_epoch')} | "
             f"{_pct(metrics.get('test_accuracy'), None)} | {metrics.get('test_loss', float('nan')):.4f} | "
             f"{metrics.get('trainable_params', 0):,} | {metrics.get('epochs')} | {_seconds(metrics.get('seconds_per_epoch'))} |",
             ""]
    per_class = metrics.get("per_class_accuracy") or {}
    if per_class:
        lines += ["| class | test acc % |", "|---|---|"]
        lines += [f"| {name} | {_pct(value, None)} |" for name, value in per_class.items()] + [""]
    lines += [*_figures(folder, base), ""]
    return "\n".join(lines), {key: metrics}


def _figures_section(folder, base):
    figures = _figures(folder, base)
    return "\n".join([f"## Figures in `{folder}`", "", *(figures or ["(no PNG files)"]), ""])
