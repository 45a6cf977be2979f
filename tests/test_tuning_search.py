"""A small search end to end in this process: trials, leaderboard, best.json, resume, train --from-tuner."""
import csv
import glob
import json
import os

import numpy as np
import pytest

from keras_resnet_cifar.cli import build_parser, main
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.tuning.space import SearchSpace
from data_helpers import random_data

BUDGET = 8_000  # 2 stages, 1-2 blocks, widths 4/8/16: the largest models (~22k) are over it
TRIAL = {"optim": {"batch_size": 4}}  # the trials' change to the base config (whose batch is 8)


@pytest.fixture(scope="module")
def data():
    return random_data()


def _config():
    return TrainConfig(verbose=0).replace(optim={"batch_size": 8})


def _space(**kwargs):
    return SearchSpace.create(_config(), stages=(2,), blocks=(1, 2), widths=(4, 8, 16), max_params=BUDGET, **kwargs)


def _trials(project_dir):
    found = {}
    for path in glob.glob(os.path.join(project_dir, "trial_*", "trial.json")):
        with open(path) as handle:
            trial = json.load(handle)
        found[trial["trial_id"]] = {"status": trial["status"], "score": trial["score"],
                                    "values": trial["hyperparameters"]["values"], "mtime": os.path.getmtime(path)}
    return found


def _progress(out):
    return [line for line in out.splitlines() if line.startswith("trial ")]


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """One random search of 3 trials, 1 epoch each, at a trial batch of 4 (the base config's is 8), shared by
    the tests below."""
    from keras_resnet_cifar.tuning.search import run_search

    directory = tmp_path_factory.mktemp("tuner")
    summary = run_search(_config(), _space(), tuner="random", max_trials=3, epochs=1, directory=directory,
                         project="small", data=data, trial=TRIAL)
    return summary, os.path.join(directory, "small")


def test_small_search_all_trials_complete_within_budget(finished):
    summary, project_dir = finished
    assert summary["trials"] == {"COMPLETED": 3}
    trials = _trials(project_dir)
    assert sorted(trials) == ["0", "1", "2"] and all(t["status"] == "COMPLETED" for t in trials.values())
    space = _space()
    assert all(space.count(t["values"])[0] <= BUDGET for t in trials.values())
    assert summary["rejected"] > 0  # the budget was binding, yet no trial failed


def test_leaderboard_and_best_json_agree_with_the_oracle(finished):
    summary, project_dir = finished
    trials = _trials(project_dir)
    with open(os.path.join(project_dir, "leaderboard.json")) as handle:
        board = json.load(handle)
    rows = board["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert {r["trial"]: r["val_accuracy"] for r in rows} == {i: pytest.approx(t["score"]) for i, t in trials.items()}
    assert rows == sorted(rows, key=lambda r: (-r["val_accuracy"], r["trainable_params"], r["trial"]))
    space = _space()
    for row in rows:
        assert (row["trainable_params"], row["macs"]) == space.count(trials[row["trial"]]["values"])
        assert row["epochs"] == 1 and row["seconds"] > 0
    assert board["trials_by_status"] == {"COMPLETED": 3} and board["pareto_front"][0] in trials
    assert board["pareto_front_macs"][0] in trials
    with open(os.path.join(project_dir, "leaderboard.csv")) as handle:
        table = list(csv.DictReader(handle))
    assert [r["trial"] for r in table] == [r["trial"] for r in rows]
    with open(os.path.join(project_dir, "best.json")) as handle:
        best = json.load(handle)
    top = max(trials, key=lambda i: (trials[i]["score"], -space.count(trials[i]["values"])[0]))
    assert best["trial"] == rows[0]["trial"] == top
    assert best["hyperparameters"] == trials[top]["values"]
    assert best["config"]["optim"]["epochs"] == 50 and best["config"]["data"]["train_subset"] is None
    assert os.path.getsize(os.path.join(project_dir, "pareto.png")) > 1000


def test_rerun_of_a_finished_search_runs_nothing_again(finished, data, capsys):
    from keras_resnet_cifar.tuning.search import run_search

    summary, project_dir = finished
    before = _trials(project_dir)
    again = run_search(_config(), _space(), tuner="random", max_trials=3, epochs=1,
                       directory=os.path.dirname(project_dir), project="small", data=data, trial=TRIAL)
    assert _progress(capsys.readouterr().out) == []
    assert again["trials"] == {"COMPLETED": 3} and _trials(project_dir) == before


def test_resume_with_another_space_is_refused_listing_differences(finished, data):
    from keras_resnet_cifar.tuning.search import run_search

    _, project_dir = finished
    with pytest.raises(FileExistsError) as error:
        run_search(_config(), _space(block_orders=("a", "e")), tuner="random", max_trials=3, epochs=2,
                   directory=os.path.dirname(project_dir), project="small", data=data, trial=TRIAL)
    message = str(error.value)
    assert "space.block_orders: ['a'] -> ['a', 'e']" in message and "search.epochs: 1 -> 2" in message
    assert "--overwrite" in message


def test_trials_train_with_the_trial_changes_and_the_winner_keeps_the_base_config(finished):
    _, project_dir = finished
    with open(os.path.join(project_dir, "space.json")) as handle:
        trained = json.load(handle)["training"]
    with open(os.path.join(project_dir, "best.json")) as handle:
        best = json.load(handle)
    assert trained["optim"]["batch_size"] == 4 and trained["optim"]["epochs"] == 1
    assert best["config"]["optim"]["batch_size"] == 8


def test_best_json_feeds_train_from_tuner_with_the_same_architecture(finished):
    from keras_resnet_cifar.cli.train import train_config
    from keras_resnet_cifar.training.train import build_model

    _, project_dir = finished
    with open(os.path.join(project_dir, "best.json")) as handle:
        best = json.load(handle)
    args = build_parser().parse_args(["train", "--from-tuner", project_dir, "--epochs", "2"])
    config = train_config(args)
    assert config.optim.epochs == 2 and list(config.model.blocks) == best["architecture"]["blocks"]
    model = build_model(config)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == best["trainable_params"]
    # The winner's trial checkpoint loads into it: the very same architecture, layer for layer.
    model.load_weights(os.path.join(project_dir, f"trial_{best['trial']}", "checkpoint.weights.h5"))


def test_hyperband_continues_its_best_trials_and_never_fails(data, tmp_path, capsys, recwarn):
    from keras_resnet_cifar.tuning.search import run_search

    # max_epochs 2, factor 2: two trials of 1 epoch, then the better one continued to epoch 2.
    summary = run_search(_config(), _space(), tuner="hyperband", max_trials=3, epochs=2, factor=2,
                         directory=tmp_path, project="hb", data=data)
    assert summary["trials"] == {"COMPLETED": 3}
    trials = _trials(os.path.join(tmp_path, "hb"))
    continued = [t for t in trials.values() if "tuner/trial_id" in t["values"]]
    assert len(continued) == 1 and continued[0]["values"]["tuner/epochs"] == 2
    assert continued[0]["values"]["tuner/initial_epoch"] == 1
    first = trials[continued[0]["values"]["tuner/trial_id"]]
    assert first["score"] == max(t["score"] for t in trials.values() if "tuner/trial_id" not in t["values"])
    assert len(_progress(capsys.readouterr().out)) == 3  # one line per trial
    assert sorted(r["epochs"] for r in summary["rows"]) == [1, 1, 2]
    # The continued trial got the checkpoint's weights and optimizer state (nothing skipped).
    assert not [w for w in recwarn if "Skipping variable loading" in str(w.message)]


def test_cli_reports_a_budget_below_the_smallest_model_at_once(tmp_path, capsys):
    code = main(["tune", "--max-params", "1000", "--directory", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "keras-resnet-cifar tune: error: budget: received max_params=1,000" in err and "20,186" in err
    assert not os.listdir(tmp_path)


def test_cli_rejects_a_default_over_budget(tmp_path, capsys):
    code = main(["tune", "--max-params", "1e6", "--default-blocks", "3", "3", "2", "3",
                 "--default-channels", "64", "128", "128", "256", "--directory", str(tmp_path)])
    assert code == 2
    assert "default: received blocks [3, 3, 2, 3]" in capsys.readouterr().err


@pytest.mark.parametrize("tuner, trials", [("random", 4), ("hyperband", 3)])
def test_diverging_trials_are_recorded_and_never_end_the_search(tuner, trials, data, tmp_path, capsys):
    from keras_resnet_cifar.tuning.search import run_search

    # lr 1e30 makes every trial's loss NaN within its first epoch; Keras Tuner stops a search
    # after 3 consecutive failed trials, so these must not count as failures.
    space = _space(lr=(1e30,), optimizers=("sgd",))
    summary = run_search(_config(), space, tuner=tuner, max_trials=trials, epochs=2 if tuner == "hyperband" else 1,
                         factor=2, directory=tmp_path, project="nan", data=data)
    assert summary["trials"] == {"DIVERGED": trials} and summary["rows"] == [] and summary["best"] is None
    project_dir = os.path.join(tmp_path, "nan")
    for path in glob.glob(os.path.join(project_dir, "trial_*", "trial.json")):
        with open(path) as handle:
            trial = json.load(handle)
        assert trial["status"] == "COMPLETED" and trial["score"] == 0.0
        assert "diverged" in trial["message"]
    with open(os.path.join(project_dir, "leaderboard.json")) as handle:
        board = json.load(handle)
    assert board["rows"] == [] and len(board["diverged"]) == trials
    assert not os.path.exists(os.path.join(project_dir, "best.json"))
    lines = _progress(capsys.readouterr().out)
    assert len(lines) == trials and all("diverged" in line for line in lines)
    if tuner == "random":
        assert all("at epoch 1, batch" in line and "lower --lr" in line for line in lines)
    else:  # the continued trial is not trained from a diverged parent
        assert any("continues trial" in line for line in lines)


def test_pareto_fronts_by_parameters_and_by_macs():
    from keras_resnet_cifar.tuning.leaderboard import pareto_front

    rows = [{"trial": "a", "trainable_params": 100, "macs": 900, "val_accuracy": 0.60},
            {"trial": "b", "trainable_params": 200, "macs": 100, "val_accuracy": 0.70},
            {"trial": "c", "trainable_params": 300, "macs": 300, "val_accuracy": 0.65},
            {"trial": "d", "trainable_params": 400, "macs": 950, "val_accuracy": 0.80}]
    assert pareto_front(rows) == ["a", "b", "d"]  # by parameters: c is beaten by b (fewer, better)
    assert pareto_front(rows, "macs") == ["b", "d"]  # by MACs: a costs more than b and scores less
