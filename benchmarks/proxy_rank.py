"""Do a search's cheap trials rank networks as full training does? (issue 25, section 1)

    python benchmarks/proxy_rank.py --source ../shared/data/cifar10-png.tar.gz --out runs/proxy-rank \\
        [--networks NAME ...] [--proxies NAME ...] [--no-truth] [--seed 0]

For each network of NETWORKS (the conv-pool family `tune --recipe fast` searches: widths, residual units
after a group, kernel sizes; and two of the study's residual ResNets; all under 5,000,000 trainable
parameters and airbench94's 118.1M MACs per image) it trains, with the fast recipe's training:
- the ground truth: the 15-minute tier's (its epochs on all 50,000 images), scored on the test split;
- each proxy of PROXIES: fewer images and epochs, scored on a validation split of the training images,
  as a search's trial is (the test split is never used to choose).
Each run is `train()` in its own folder under --out (NETWORK/truth, NETWORK/PROXY), so a killed benchmark
resumes where it stopped and a finished run is read, not trained again; wall.json beside each run holds
the seconds of the call that finished it (a resumed run's count only its last part). Then it prints the
table, and per proxy the Spearman rank correlation of its scores with the truth (scipy.stats.spearmanr)
and its mean minutes a trial, and writes proxy_rank.json and proxy_rank.png (proxy score against truth)
into --out. Run it on a quiet machine: it is a measurement (about 1.5 hours of truth and 40 minutes of
proxies on our 2-core CPUs, minutes on a GPU).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnet_cifar.files import write_json  # noqa: E402
from keras_resnet_cifar.params import count_network  # noqa: E402
from keras_resnet_cifar.recipes import recipe_config  # noqa: E402

TRUTH_MINUTES = 15  # the recipe tier whose training is the ground truth
NETWORKS = {  # name -> the fast recipe's model fields it changes
    "airbench94": {},
    "airbench93": {"channels": (64, 128, 128)},
    "w32-128-128": {"channels": (32, 128, 128)},
    "w64-192-192": {"channels": (64, 192, 192)},
    "w48-256-256+unit1": {"channels": (48, 256, 256), "blocks": (1, 0, 0)},
    "w64-128-256+unit2": {"channels": (64, 128, 256), "blocks": (0, 1, 0)},
    "w64-128-128-k355": {"channels": (64, 128, 128), "kernel_size": (3, 5, 5)},
    "w64-128-192-k533": {"channels": (64, 128, 192), "kernel_size": (5, 3, 3)},
    "resnet-111-48": {"stage_kind": "residual", "blocks": (1, 1, 1), "channels": (48, 96, 192)},
    "resnet-222-32": {"stage_kind": "residual", "blocks": (2, 2, 2), "channels": (32, 64, 128)},
}
PROXIES = {  # name -> (epochs, training images, validation images, batch size)
    "e4-10k-val2k-b512": (4, 10_000, 2_000, 512),
    "e4-20k-val5k-b1024": (4, 20_000, 5_000, 1024),
    "e2-10k-val2k-b256": (2, 10_000, 2_000, 256),
}
VAL_FRACTION = 0.1  # the held-out share of the 50,000 training images proxies are scored on (5,000)


def truth_config(network, source, seed=0):
    """The ground truth's TrainConfig of `network` (a NETWORKS key): the recipe tier's training."""
    base = recipe_config("fast", TRUTH_MINUTES)
    return base.replace(model=NETWORKS[network], data={"source": source}, seed=seed, verbose=0)


def proxy_config(network, proxy, source, seed=0):
    """The TrainConfig of `proxy` (a PROXIES key) for `network`: the truth's training, fewer images and
    epochs, a validation split."""
    epochs, images, val_images, batch = PROXIES[proxy]
    return truth_config(network, source, seed).replace(
        data={"train_subset": images, "val_fraction": VAL_FRACTION, "val_subset": val_images},
        optim={"epochs": epochs, "batch_size": batch})


def counts(network):
    """(trainable parameters, MACs per image) of `network`, analytically."""
    spec = recipe_config("fast", TRUTH_MINUTES).model.replace(**NETWORKS[network])
    counted = count_network(spec)
    return counted.trainable, counted.macs


MAX_MACS = counts("airbench94")[1]  # 118.1M a image: every network trains in at most airbench94's time


def run(config, folder):
    """Train `config` in `folder` (resuming, or reading a finished run); its metrics."""
    from keras_resnet_cifar.training.train import train

    wall_file = os.path.join(folder, "wall.json")
    finished = os.path.exists(os.path.join(folder, "metrics.json"))
    start = time.monotonic()
    metrics = train(config, folder)
    if not finished:
        write_json(wall_file, {"wall_s": round(time.monotonic() - start, 1)})
    return metrics


def score(metrics, truth):
    """A run's score: test accuracy for the truth, the best validation accuracy for a proxy (a trial's)."""
    return metrics["test_accuracy"] if truth else metrics["best_val_accuracy"]


def summarize(out, networks=tuple(NETWORKS), proxies=tuple(PROXIES)):
    """The table and each proxy's rank correlation, from the finished runs under `out`.

    Returns:
        {"rows": [{network, params, macs, truth, truth_s, <proxy>, <proxy>_s, <proxy>_trial_s...}], "proxies":
        {proxy: {"spearman", "p_value", "n", "minutes_per_trial", "wall_minutes"}}}; a proxy needs 3 networks
        with both scores. <name>_s is the whole run's wall (loading, tracing, training, the test evaluation);
        <name>_trial_s its epochs' training and validation seconds (history.csv), what a search's trial spends
        (a search loads the data once and evaluates no trial on test); minutes_per_trial is their mean.
    """
    from scipy.stats import spearmanr

    rows = []
    for network in networks:
        params, macs = counts(network)
        row = {"network": network, "params": params, "macs": macs}
        for name in ("truth", *proxies):
            folder = os.path.join(out, network, name)
            metrics_file, wall_file = os.path.join(folder, "metrics.json"), os.path.join(folder, "wall.json")
            if os.path.exists(metrics_file):
                with open(metrics_file, encoding="utf-8") as handle:
                    row[name] = score(json.load(handle), name == "truth")
                if os.path.exists(wall_file):
                    with open(wall_file, encoding="utf-8") as handle:
                        row[f"{name}_s"] = json.load(handle)["wall_s"]
                epoch_seconds = _epoch_seconds(os.path.join(folder, "history.csv"))
                if epoch_seconds is not None:
                    row[f"{name}_trial_s"] = epoch_seconds
        rows.append(row)
    quality = {}
    for proxy in proxies:
        pairs = [(row[proxy], row["truth"]) for row in rows if proxy in row and "truth" in row]
        if len(pairs) >= 3:
            rho, p_value = spearmanr(*zip(*pairs))
            quality[proxy] = {"spearman": round(float(rho), 4), "p_value": round(float(p_value), 4), "n": len(pairs),
                              "minutes_per_trial": _mean_minutes(rows, f"{proxy}_trial_s"),
                              "wall_minutes": _mean_minutes(rows, f"{proxy}_s")}
    return {"rows": rows, "proxies": quality}


def _epoch_seconds(history_file):
    """The training and validation seconds of a run's epochs (history.csv), or None without the file."""
    if not os.path.exists(history_file):
        return None
    import csv

    with open(history_file, encoding="utf-8", newline="") as handle:
        return round(sum(float(row.get("seconds") or 0) + float(row.get("val_seconds") or 0)
                         for row in csv.DictReader(handle)), 1)


def _mean_minutes(rows, key):
    seconds = [row[key] for row in rows if key in row]
    return round(sum(seconds) / len(seconds) / 60, 2) if seconds else None


def report(summary, out, proxies):
    """Print the table and the proxies' quality; write proxy_rank.json and proxy_rank.png into `out`."""
    print("| network | params | MACs | truth (test) | s | " + " | ".join(f"{p} (val) | s" for p in proxies) + " |")
    for row in summary["rows"]:
        cells = [row["network"], f"{row['params']:,}", f"{row['macs'] / 1e6:.1f}M"]
        for name in ("truth", *proxies):
            cells += [f"{row[name]:.4f}" if name in row else "-", f"{row.get(f'{name}_s', '-')}"]
        print("| " + " | ".join(cells) + " |")
    for proxy, quality in summary["proxies"].items():
        print(f"{proxy}: Spearman {quality['spearman']:+.3f} (p {quality['p_value']:.3f}, n {quality['n']}), "
              f"{quality['minutes_per_trial']} min a trial (training and validation; "
              f"{quality['wall_minutes']} min as a whole run with loading and the test evaluation)")
    write_json(os.path.join(out, "proxy_rank.json"), summary)
    if summary["proxies"]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 4.5))
        for proxy in summary["proxies"]:
            points = [(row[proxy], row["truth"]) for row in summary["rows"] if proxy in row and "truth" in row]
            axes.scatter(*zip(*points), label=f"{proxy} (rho {summary['proxies'][proxy]['spearman']:+.2f})")
        axes.set(xlabel="proxy score (validation accuracy)", ylabel=f"truth: test accuracy, fast/{TRUTH_MINUTES}",
                 title="Proxy against full training")
        axes.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(os.path.join(out, "proxy_rank.png"), dpi=120)
        plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="the data (the official archive for a result)")
    parser.add_argument("--out", required=True, help="folder of the runs and the results")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--proxies", nargs="+", choices=PROXIES, default=list(PROXIES))
    parser.add_argument("--no-truth", action="store_true", help="train the proxies only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for network in args.networks:  # proxies first: they are minutes, the truth is most of the time
        for proxy in args.proxies:
            run(proxy_config(network, proxy, args.source, args.seed), os.path.join(args.out, network, proxy))
    if not args.no_truth:
        for network in args.networks:
            run(truth_config(network, args.source, args.seed), os.path.join(args.out, network, "truth"))
    report(summarize(args.out, args.networks, args.proxies), args.out, args.proxies)


if __name__ == "__main__":
    main()
