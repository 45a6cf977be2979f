"""benchmarks/proxy_rank.py (issue 25, section 1): its networks fit the search's budgets, its runs are the
recipe's training with a validation split for proxies, and its rank correlations from hand-made runs."""
import json

import pytest

from file_helpers import load_benchmark
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.recipes import recipe_config
from keras_resnet_cifar.tuning.space import DEFAULT_MAX_PARAMS

bench = load_benchmark("proxy_rank")


def test_networks_span_the_space_within_both_budgets():
    assert len(bench.NETWORKS) >= 8
    assert bench.MAX_MACS == 118_147_360  # airbench94's (the recipe's network) MACs per image
    for network in bench.NETWORKS:
        params, macs = bench.counts(network)
        assert params <= DEFAULT_MAX_PARAMS and macs <= bench.MAX_MACS, (network, params, macs)
    models = [recipe_config("fast", 15).model.replace(**fields) for fields in bench.NETWORKS.values()]
    assert sum(model.stage_kind == "residual" for model in models) >= 2
    assert len({model.channels for model in models}) >= 6 and len({model.kernel_size for model in models}) >= 2
    assert any(model.stage_kind == "convpool" and any(model.blocks) for model in models)


def test_truth_is_the_tier_and_proxies_are_trials_on_a_validation_split():
    truth = TrainConfig.coerce(bench.truth_config("w64-192-192", "data.tar.gz", seed=3))
    tier = recipe_config("fast", bench.TRUTH_MINUTES)
    assert truth.optim == tier.optim and truth.model.channels == (64, 192, 192) and truth.seed == 3
    assert truth.data.val_fraction == 0 and truth.data.train_subset is None and truth.data.source == "data.tar.gz"
    for proxy, (epochs, images, val_images, batch) in bench.PROXIES.items():
        config = TrainConfig.coerce(bench.proxy_config("w64-192-192", proxy, "data.tar.gz", seed=3))
        assert (config.optim.epochs, config.data.train_subset, config.data.val_subset) == (epochs, images, val_images)
        assert config.optim.batch_size == batch and config.data.val_fraction > 0 and config.model == truth.model
        assert epochs * images < tier.optim.epochs * 50_000


def _finished(folder, metrics, wall_s=None, epochs=()):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if wall_s is not None:
        (folder / "wall.json").write_text(json.dumps({"wall_s": wall_s}))
    if epochs:  # (training seconds, validation seconds) per epoch, as train() writes history.csv
        (folder / "history.csv").write_text("epoch,accuracy,seconds,val_seconds\n" + "".join(
            f"{n},0.5,{train_s},{val_s}\n" for n, (train_s, val_s) in enumerate(epochs, 1)))


def test_spearman_of_each_proxy_against_the_truth(tmp_path):
    networks = ["airbench94", "airbench93", "w32-128-128", "w64-192-192", "resnet-111-48"]
    truths = [0.94, 0.92, 0.89, 0.93, 0.90]
    for network, truth in zip(networks, truths):
        _finished(tmp_path / network / "truth", {"test_accuracy": truth}, 600.0)
        _finished(tmp_path / network / "same", {"best_val_accuracy": truth - 0.2, "test_accuracy": 0.1}, 60.0)
        _finished(tmp_path / network / "reversed", {"best_val_accuracy": 1 - truth}, 120.0, [(40, 5), (40, 5)])
    (tmp_path / "resnet-111-48" / "same" / "metrics.json").unlink()  # an unfinished proxy run is left out
    summary = bench.summarize(str(tmp_path), networks, ("same", "reversed"))
    assert summary["proxies"]["same"]["spearman"] == pytest.approx(1.0) and summary["proxies"]["same"]["n"] == 4
    assert summary["proxies"]["reversed"]["spearman"] == pytest.approx(-1.0)
    reversed_quality = summary["proxies"]["reversed"]
    assert (reversed_quality["wall_minutes"], reversed_quality["minutes_per_trial"]) == (2.0, 1.5)  # 2 x 45 s
    assert summary["proxies"]["same"]["minutes_per_trial"] is None  # no history.csv: not guessed
    row = summary["rows"][0]
    assert (row["network"], row["truth"], row["same"], row["truth_s"]) == ("airbench94", 0.94, pytest.approx(0.74), 600)
    bench.report(summary, str(tmp_path), ("same", "reversed"))
    assert json.loads((tmp_path / "proxy_rank.json").read_text())["proxies"]["same"]["n"] == 4
    assert (tmp_path / "proxy_rank.png").stat().st_size > 0
