"""The search's results: leaderboard (CSV, JSON), best.json, and validation accuracy against parameters.

Files in tuner/<project>/ besides Keras Tuner's own:

    leaderboard.csv / .json   completed trials, best validation accuracy first (diverged ones left out;
                              their trial.json has the metric "diverged": 1.0 and the reason as message)
    best.json                 the winner: hyperparameters, architecture, and the full TrainConfig
                              that `keras-resnet-cifar train --from-tuner` trains (after finalists.py's
                              stage, the finalist with the best validation accuracy at full training)
    pareto.png                validation accuracy against trainable parameters and against MACs, Pareto fronts marked
    space.json                the search space and settings (a resume with other ones is refused)
"""
import csv
import io
import os

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.files import atomic_save, read_json, write_json, write_text
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError

DIVERGED = "diverged"  # a trial metric: 1.0 when its loss became NaN/inf (left out of the ranking)
COLUMNS = ("rank", "trial", "blocks", "channels", "trainable_params", "macs", "val_accuracy", "epochs", "seconds")


def last_metrics(trial):
    """{metric: last value} of a Keras Tuner `Trial` (the one reader of trial metrics)."""
    return {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}


def trial_records(trials):
    """Plain dicts of Keras Tuner `Trial`s: trial_id, status, values, metrics (last value each)."""
    return [{"trial_id": trial.trial_id, "status": trial.status, "values": dict(trial.hyperparameters.values),
             "metrics": last_metrics(trial), "message": trial.message} for trial in trials]


def rank(records, space):
    """Leaderboard rows of the completed trials: best validation accuracy first, then fewer parameters.

    Args:
        records: from `trial_records`.
        space: the SearchSpace the trials came from (for the analytic counts).

    Returns:
        list of dicts: rank, trial, blocks, channels, trainable_params, macs, val_accuracy,
        epochs, seconds, the open dimensions' values, and hyperparameters (all of them).
    """
    rows = []
    for record in records:
        if (record["status"] != "COMPLETED" or record["metrics"].get("val_accuracy") is None
                or record["metrics"].get(DIVERGED)):
            continue
        values = space.trial_values(record["values"])
        arch = space.architecture(values)
        params, macs = space.count(values)
        metrics = record["metrics"]
        row = {"trial": record["trial_id"], "blocks": arch["blocks"], "channels": arch["channels"],
               "trainable_params": params, "macs": macs, "val_accuracy": float(metrics["val_accuracy"]),
               "epochs": int(metrics.get("epochs") or 0), "seconds": round(float(metrics.get("seconds") or 0), 1)}
        row.update({name: values[name] for name in space.open_options()})
        row["hyperparameters"] = values
        rows.append(row)
    rows.sort(key=lambda r: (-r["val_accuracy"], r["trainable_params"], r["trial"]))
    return [{"rank": i, **row} for i, row in enumerate(rows, start=1)]


def pareto_front(rows, cost="trainable_params"):
    """Trial ids no other row beats on both counts (higher accuracy at no more `cost`: "trainable_params"
    or "macs")."""
    front, best = [], float("-inf")
    for row in sorted(rows, key=lambda r: (r[cost], -r["val_accuracy"])):
        if row["val_accuracy"] > best:
            front.append(row["trial"])
            best = row["val_accuracy"]
    return front


def format_table(rows, top=10):
    """The leaderboard's first `top` rows as aligned text."""
    header = f"{'rank':>4}  {'trial':>5}  {'blocks':<12} {'channels':<20} {'params':>10} {'MMACs':>8} " \
             f"{'val_acc':>7} {'epochs':>6} {'seconds':>8}"
    lines = [header]
    for r in rows[:top]:
        lines.append(f"{r['rank']:>4}  {r['trial']:>5}  {'-'.join(map(str, r['blocks'])):<12} "
                     f"{'-'.join(map(str, r['channels'])):<20} {r['trainable_params']:>10,} {r['macs'] / 1e6:>8.1f} "
                     f"{r['val_accuracy']:>7.4f} {r['epochs']:>6} {r['seconds']:>8.1f}")
    return "\n".join(lines)


def format_finalists(summary):
    """The finalists' table (`finalists.Finalists.run`'s summary) as aligned text, the winner marked."""
    lines = [f"finalists, trained as the winner trains ({summary['minutes']:g} minutes), chosen on validation (*):",
             f" {'finalist':<11} {'trial':>5} {'rank':>4}  {'channels':<14} {'params':>10} {'MMACs':>8} {'proxy':>7} "
             f"{'full val':>8}"]
    for r in summary["finalists"]:
        full = f"{r['full_val_accuracy']:>8.4f}" if "full_val_accuracy" in r else f"{'diverged':>8}"
        proxy = "-" if r.get("val_accuracy") is None else f"{r['val_accuracy']:.4f}"
        lines.append(f"{'*' if r['run'] == summary['chosen'] else ' '}{r['run']:<11} {r.get('trial') or '-':>5} "
                     f"{r.get('rank') or '-':>4}  {'-'.join(map(str, r['channels'])):<14} {r['trainable_params']:>10,} "
                     f"{r['macs'] / 1e6:>8.1f} {proxy:>7} {full}")
    return "\n".join(lines)


def write_results(project_dir, records, space, base_config, search, *, plot=True):
    """Write leaderboard.csv/.json and best.json (and pareto.png) into `project_dir`.

    Args:
        project_dir: tuner/<project>.
        records: from `trial_records`.
        space: the SearchSpace.
        base_config: TrainConfig of the full training (not the trials' shortened one).
        search: dict of the search settings, stored in best.json.
        plot: also draw pareto.png. Default True.

    Returns:
        The leaderboard rows (see `rank`).
    """
    rows = rank(records, space)
    counts = status_counts(records)
    diverged = [{"trial": r["trial_id"], "reason": r.get("message")} for r in records if r["metrics"].get(DIVERGED)]
    fronts = {cost: pareto_front(rows, cost) for cost in ("trainable_params", "macs")}
    write_json(os.path.join(project_dir, "leaderboard.json"),
               {"rows": rows, "pareto_front": fronts["trainable_params"], "pareto_front_macs": fronts["macs"],
                "trials_by_status": counts, "diverged": diverged,
                "max_params": space.max_params, "max_macs": space.max_macs})
    write_text(os.path.join(project_dir, "leaderboard.csv"), _csv(rows))
    if rows:
        write_json(os.path.join(project_dir, "best.json"), best_entry(rows[0], space, base_config, search))
    if plot and rows:
        _plot(os.path.join(project_dir, "pareto.png"), rows, fronts, space)
    return rows


def best_entry(row, space, base_config, search):
    """best.json's contents for the leaderboard row `row`: the trial, its counts, hyperparameters,
    architecture, and the full TrainConfig (`base_config` with its network) that `train --from-tuner` trains."""
    config = space.train_config(row["hyperparameters"], base_config)
    return {"trial": row["trial"], "val_accuracy": row["val_accuracy"], "trainable_params": row["trainable_params"],
            "macs": row["macs"], "epochs": row["epochs"], "hyperparameters": row["hyperparameters"],
            "architecture": space.architecture(row["hyperparameters"]), "config": config.to_dict(), "search": search}


def status_counts(records):
    """{status: trials}; diverged trials (completed with the worst objective) count as "DIVERGED"."""
    counts = {}
    for record in records:
        status = "DIVERGED" if record["metrics"].get(DIVERGED) else record["status"]
        counts[status] = counts.get(status, 0) + 1
    return counts


def best_config(path):
    """The TrainConfig of a search's winner, from tuner/<project> or its best.json.

    Example:
        >>> config = best_config("tuner/resnet_cifar").replace(optim={"epochs": 50})
    """
    path = os.fspath(path)
    file = os.path.join(path, "best.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise UserFileNotFoundError(
            f"--from-tuner: received {path!r}, which has no best.json; accepted: a tuner project directory "
            "(tuner/<project>) after at least one completed trial, or its best.json. Run `keras-resnet-cifar tune` first")
    best = read_json(file)
    if "config" not in best:
        raise UserError(f"{file}: no 'config' entry; accepted: a best.json written by `keras-resnet-cifar tune`")
    return TrainConfig.from_dict(best["config"])


def _csv(rows):
    names = [k for k in rows[0] if k != "hyperparameters"] if rows else list(COLUMNS)  # then the open options
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "-".join(map(str, row[k])) if isinstance(row[k], list) else row[k] for k in names})
    return buffer.getvalue()


def _plot(path, rows, fronts, space):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    panels = (("trainable_params", "trainable parameters (millions)", space.max_params, "parameter budget"),
              ("macs", "MACs per image (millions)", space.max_macs, "MACs budget"))
    for ax, (cost, label, budget, budget_label) in zip(axes, panels):
        front = set(fronts[cost])
        ax.scatter([r[cost] / 1e6 for r in rows], [r["val_accuracy"] for r in rows], s=18, color="0.6",
                   label="trials")
        on_front = sorted((r for r in rows if r["trial"] in front), key=lambda r: r[cost])
        ax.step([r[cost] / 1e6 for r in on_front], [r["val_accuracy"] for r in on_front], where="post",
                color="tab:blue", marker="o", label="Pareto front")
        ax.scatter([rows[0][cost] / 1e6], [rows[0]["val_accuracy"]], marker="*", s=160, color="tab:red", zorder=3,
                   label=f"best (trial {rows[0]['trial']})")
        if budget is not None:
            ax.axvline(budget / 1e6, color="k", linestyle="--", linewidth=1, label=budget_label)
        ax.set_xlabel(label)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("best validation accuracy")
    fig.tight_layout()
    atomic_save(path, lambda temp: fig.savefig(temp, format="png", dpi=120))
    plt.close(fig)
