"""The search's finalists: its best networks trained as the winner will be, the winner chosen among them.

A trial is a cheap proxy of full training. It ranks networks a point apart as full training does
(benchmarks/RESULTS.md, "Proxies that rank"), but the top of a search lies within a proxy score's noise:
a 60-minute search ranked a network that reaches 93.2% above airbench94 (94.1%) by 7 of 2,000 validation
images ("From search to a served model"). So, with `finalists` N > 0, the space's default network (the
base config's, e.g. the recipe's airbench94: the bar a search must clear) trains first, with the winner's
own training (its epochs, every training image but the validation split); its time sets how much of the
search's time budget to keep for the rest. After the search, the leaderboard's N best other networks train
the same way, and the one with the best validation accuracy (the default included) is best.json's winner.
The test split is never looked at.

Files in tuner/<project>/:

    finalists/default, finalists/trial_<id>   each finalist's run (train's files; an interrupted one resumes)
    finalists.json                            the finalists so far: proxy and full validation accuracy,
                                              wall seconds, and the one chosen
"""
import os
import time

from keras_resnet_cifar.data import load_data
from keras_resnet_cifar.files import read_json, write_json
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.training.divergence import TrainingDiverged
from keras_resnet_cifar.tuning import leaderboard

FOLDER, RESULTS, DEFAULT = "finalists", "finalists.json", "default"


def _key(values):
    return repr(sorted(values.items()))


def choose(rows, space, count):
    """The leaderboard rows of the `count` best networks other than the space's default, best proxy score first,
    each configuration once (Hyperband trains one at several rungs)."""
    picked, seen = [], {_key(space.default)}
    for row in rows:
        if len(picked) < count and _key(row["hyperparameters"]) not in seen:
            seen.add(_key(row["hyperparameters"]))
            picked.append(row)
    return picked


def finalist_config(values, space, config, trial_config):
    """The TrainConfig a finalist trains with: the winner's (`config` with the network `values`), on every
    training image but the trials' validation split, all of it (`trial_config`'s val_fraction), quiet."""
    return space.train_config(values, config).replace(
        data={"val_fraction": trial_config.data.val_fraction, "val_subset": None}, verbose=0)


def reserve_seconds(default_seconds, count, space):
    """Seconds of a search's time budget to keep for its `count` finalists after it: each estimated as the
    default network's full training (`default_seconds`, on the search's clock already) scaled by the MACs
    budget over the default's MACs (1 in a FLOP-fair search, or without a MACs budget)."""
    default_macs = space.count(space.default)[1]
    scale = max(1.0, space.max_macs / default_macs) if space.max_macs else 1.0
    return default_seconds * count * scale


class Finalists:
    """The finalists of the search in `project_dir`: trained one by one, recorded in finalists.json after each.

    Args:
        project_dir: tuner/<project>.
        space: the SearchSpace.
        config: the base TrainConfig (the winner's full training).
        trial_config: the trials' TrainConfig (its validation split is the finalists').
        data: a CifarData with the finalists' split; default `load_data` of their data config (when first needed).
        train_fn: `training.train`'s signature; default it (a test may pass another).
    """

    def __init__(self, project_dir, space, config, trial_config, *, data=None, train_fn=None):
        if train_fn is None:
            from keras_resnet_cifar.training.train import train as train_fn
        self.project_dir, self.space, self.config, self.trial_config = project_dir, space, config, trial_config
        self.data, self.train_fn = data, train_fn
        path = os.path.join(project_dir, RESULTS)
        self.results = {r["run"]: r for r in read_json(path)["finalists"]} if os.path.exists(path) else {}

    @property
    def full_images(self):
        """Training images of a finalist (every image but the validation split)."""
        return len(self._data().train.labels)

    def _data(self):
        if self.data is None:
            data_config = finalist_config(self.space.default, self.space, self.config, self.trial_config).data
            self.data = load_data(data_config, seed=self.config.seed, verbose=False)
        return self.data

    def train_default(self):
        """Train the space's default network (once; a rerun reads its result); returns its result dict."""
        return self._train(DEFAULT, self.space.default, "the default network (the bar to clear)")

    def run(self, rows, count):
        """Train the `count` best others of `rows` (the leaderboard), choose the winner (the default included)
        on validation and make it best.json's; returns finalists.json's contents. Raises TrainingDiverged
        when every finalist diverged."""
        start = time.perf_counter()
        results = [self.train_default()]
        default_row = next((r for r in rows if _key(r["hyperparameters"]) == _key(self.space.default)), None)
        results[0].update(_proxy(default_row))
        for row in choose(rows, self.space, count):
            result = self._train(f"trial_{row['trial']}", row["hyperparameters"], f"trial {row['trial']}")
            results.append({**result, **_proxy(row)})
        trained = [r for r in results if "full_val_accuracy" in r]
        if not trained:
            runs = ", ".join(r["run"] for r in results)
            raise TrainingDiverged(f"{self.project_dir}: every finalist diverged ({runs}); no winner was chosen. "
                                   "Fix: a lower --lr, or --finalists 0 to keep the proxy's best", epoch=None)
        best = max(trained, key=lambda r: (r["full_val_accuracy"], -r["trainable_params"], r["run"] == DEFAULT))
        summary = {"finalists": results, "chosen": best["run"],
                   "minutes": round(sum(r.get("seconds", 0) for r in results) / 60, 1)}
        write_json(os.path.join(self.project_dir, RESULTS), summary)
        row = default_row if best["run"] == DEFAULT else next(r for r in rows if f"trial_{r['trial']}" == best["run"])
        self._choose(best, row)
        print(f"tune: finalists took {(time.perf_counter() - start) / 60:.1f} minutes here; the winner is "
              f"{best['run']}", flush=True)
        return summary

    def _train(self, run, values, what):
        if run in self.results and ("full_val_accuracy" in self.results[run] or "diverged" in self.results[run]):
            return dict(self.results[run])
        run_config = finalist_config(values, self.space, self.config, self.trial_config)
        workdir = os.path.join(self.project_dir, FOLDER, run)
        arch = self.space.architecture(values)
        network = count_network(run_config.model)
        result = {"run": run, "blocks": arch["blocks"], "channels": arch["channels"],
                  "trainable_params": network.trainable, "macs": network.macs}
        print(f"tune: finalist {what}, blocks {'-'.join(map(str, arch['blocks']))} channels "
              f"{'-'.join(map(str, arch['channels']))}: {run_config.optim.epochs} epochs on {self.full_images:,} "
              f"images, in {workdir}", flush=True)
        began = time.perf_counter()
        try:
            metrics = self.train_fn(run_config, workdir, data=self._data())
        except TrainingDiverged as error:
            result.update(diverged=str(error).strip().splitlines()[-1])
            print(f"tune: finalist {run} diverged: {result['diverged']}", flush=True)
        else:
            result.update(full_val_accuracy=float(metrics["best_val_accuracy"]), epochs=metrics["epochs"])
            print(f"tune: finalist {run}: val_acc {result['full_val_accuracy']:.4f} on {metrics['num_val']:,} "
                  f"images after {result['epochs']} epochs", flush=True)
        result["seconds"] = round(time.perf_counter() - began, 1)
        self.results[run] = result
        write_json(os.path.join(self.project_dir, RESULTS), {"finalists": list(self.results.values()), "chosen": None})
        return dict(result)

    def _choose(self, best, row):
        """best.json says the finalist `best` is the winner, and how it was chosen (`row`: its leaderboard row, or
        None for a default no trial trained)."""
        path = os.path.join(self.project_dir, "best.json")
        search = read_json(path)["search"]
        if row is None:
            row = {"trial": None, "val_accuracy": None, "trainable_params": best["trainable_params"],
                   "macs": best["macs"], "epochs": 0, "hyperparameters": dict(self.space.default)}
        write_json(path, {**leaderboard.best_entry(row, self.space, self.config, search), "chosen_by": "finalists",
                          "finalist": best["run"], "full_val_accuracy": best["full_val_accuracy"]})


def _proxy(row):
    """A finalist's search record: its trial, proxy rank and score (None when no trial trained it)."""
    return {"trial": row["trial"] if row else None, "rank": row["rank"] if row else None,
            "val_accuracy": row["val_accuracy"] if row else None}
