"""The search's last stage: finalists trained as the winner trains, the winner chosen on their validation accuracy."""
import contextlib
import json
import os
import signal

import pytest

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.recipes import recipe_config
from keras_resnet_cifar.training.divergence import TrainingDiverged
from keras_resnet_cifar.tuning import finalists, leaderboard
from keras_resnet_cifar.tuning.settings import RECIPE_FINALISTS, check_finalists, resolve_settings
from keras_resnet_cifar.tuning.space import SearchSpace
from data_helpers import random_data

BASE = TrainConfig(verbose=0).replace(optim={"batch_size": 8}, data={"val_fraction": 0})  # every image, as a recipe
TRIAL_CONFIG = BASE.replace(optim={"epochs": 1, "batch_size": 4}, data={"val_fraction": 0.25, "val_subset": 4})


def _space():
    return SearchSpace.create(BASE, stages=(2,), blocks=(1, 2), widths=(4, 8, 16), max_params=8_000)


def _values(space, blocks, channels):
    values = dict(space.default)
    values.update({f"blocks_{i}": b for i, b in enumerate(blocks, start=1)})
    values.update({f"channels_{i}": c for i, c in enumerate(channels, start=1)})
    return values


def _rows(space, networks):
    """Leaderboard rows of (blocks, channels, proxy val_accuracy), as `leaderboard.rank` ranks them."""
    records = [{"trial_id": f"{i:04d}", "status": "COMPLETED", "values": _values(space, b, c),
                "metrics": {"val_accuracy": acc, "epochs": 1.0, "seconds": 1.0}, "message": None}
               for i, (b, c, acc) in enumerate(networks)]
    return leaderboard.rank(records, space)


def test_finalists_are_the_best_distinct_networks_other_than_the_default_in_proxy_order():
    space = _space()
    default = (tuple(space.default[f"blocks_{i}"] for i in (1, 2)), tuple(space.default[f"channels_{i}"] for i in (1, 2)))
    rows = _rows(space, [((1, 1), (8, 8), 0.50), ((1, 1), (8, 8), 0.49),  # one network at two rungs
                         (*default, 0.47), ((1, 1), (16, 8), 0.45), ((2, 1), (4, 4), 0.40)])
    assert default not in {((1, 1), (8, 8)), ((1, 1), (16, 8)), ((2, 1), (4, 4))}
    assert [r["val_accuracy"] for r in finalists.choose(rows, space, 2)] == [0.50, 0.45]  # no duplicate, no default
    assert [r["val_accuracy"] for r in finalists.choose(rows, space, 9)] == [0.50, 0.45, 0.40]
    assert finalists.choose(rows, space, 0) == []


def test_a_finalist_trains_as_the_winner_does_on_every_image_but_the_whole_validation_split():
    space = _space()
    values = _values(space, (2, 1), (16, 8))
    config = finalists.finalist_config(values, space, BASE, TRIAL_CONFIG)
    assert config.model.blocks == (2, 1) and config.model.channels == (16, 8)
    assert config.optim.epochs == BASE.optim.epochs and config.optim.batch_size == 8  # the winner's training
    assert config.data.val_fraction == 0.25 and config.data.val_subset is None and config.data.train_subset is None
    assert space.train_config(values, BASE).replace(data={"val_fraction": 0.25}) == config.replace(verbose=0)


def test_the_search_keeps_the_defaults_time_per_finalist_scaled_by_the_macs_budget():
    space = _space()
    default_macs = space.count(space.default)[1]
    assert finalists.reserve_seconds(100.0, 2, space) == 200.0  # no MACs budget
    flop_fair = SearchSpace.create(BASE, stages=(2,), blocks=(1, 2), widths=(4, 8, 16), max_params=8_000,
                                   max_macs=default_macs)
    assert finalists.reserve_seconds(100.0, 2, flop_fair) == 200.0
    twice = SearchSpace.create(BASE, stages=(2,), blocks=(1, 2), widths=(4, 8, 16), max_params=8_000,
                               max_macs=2 * default_macs)
    assert finalists.reserve_seconds(100.0, 3, twice) == pytest.approx(600.0)


def _fake_train(scores, trained):
    def train(config, workdir, *, data=None):
        key = (tuple(config.model.blocks), tuple(config.model.channels))
        trained.append((key, config, os.path.basename(workdir)))
        if scores[key] is None:
            raise TrainingDiverged("loss became nan at epoch 1", epoch=1)
        return {"best_val_accuracy": scores[key], "epochs": config.optim.epochs, "num_val": 10}
    return train


def _default(space):
    return (tuple(space.default[f"blocks_{i}"] for i in (1, 2)), tuple(space.default[f"channels_{i}"] for i in (1, 2)))


def _project(tmp_path, space, rows):
    leaderboard.write_results(str(tmp_path), [], space, BASE, {"tuner": "random"}, plot=False)
    with open(tmp_path / "best.json", "w") as handle:  # as the search leaves it: the proxy's best
        json.dump(leaderboard.best_entry(rows[0], space, BASE, {"tuner": "random"}), handle)


def test_the_finalist_best_on_validation_becomes_best_json_and_a_diverged_one_is_left_out(tmp_path, capsys):
    space = _space()
    rows = _rows(space, [((1, 1), (8, 8), 0.50), ((1, 1), (16, 8), 0.45), (*_default(space), 0.42),
                         ((2, 1), (4, 4), 0.40)])
    _project(tmp_path, space, rows)
    trained = []
    scores = {_default(space): 0.75, ((1, 1), (8, 8)): 0.70, ((1, 1), (16, 8)): None, ((2, 1), (4, 4)): 0.80}
    final = finalists.Finalists(str(tmp_path), space, BASE, TRIAL_CONFIG, data=random_data(),
                                train_fn=_fake_train(scores, trained))
    assert final.train_default()["full_val_accuracy"] == 0.75  # before the search
    summary = final.run(rows, 2)
    assert [run for *_, run in trained] == ["default", "trial_0000", "trial_0001"]  # the default once; then 2 others
    assert all(config.data.val_fraction == 0.25 and config.optim.epochs == BASE.optim.epochs for _, config, _ in trained)
    assert summary["chosen"] == "default"  # 0.75 beats 0.70 and a diverged one; (2, 1) was not a finalist
    assert [(r["run"], r["trial"], r.get("full_val_accuracy")) for r in summary["finalists"]] == [
        ("default", "0002", 0.75), ("trial_0000", "0000", 0.70), ("trial_0001", "0001", None)]
    assert "nan" in summary["finalists"][2]["diverged"]
    with open(tmp_path / "best.json") as handle:
        best = json.load(handle)
    assert (best["trial"], best["finalist"], best["chosen_by"], best["full_val_accuracy"]) == (
        "0002", "default", "finalists", 0.75)
    chosen = leaderboard.best_config(str(tmp_path))  # what train --from-tuner trains: the base config, that network
    assert chosen == space.train_config(space.default, BASE) and chosen.data.val_fraction == 0
    out = capsys.readouterr().out
    assert "finalist the default network" in out and "finalist trial_0001 diverged" in out
    table = leaderboard.format_finalists(summary)
    assert "*default" in table and "diverged" in table

    more = finalists.Finalists(str(tmp_path), space, BASE, TRIAL_CONFIG, data=random_data(),
                               train_fn=_fake_train(scores, trained))  # a rerun asking for one more finalist
    trained.clear()
    again = more.run(rows, 3)
    assert [run for *_, run in trained] == ["trial_0003"]  # the others' results are read back, not trained
    assert again["chosen"] == "trial_0003"
    with open(tmp_path / "best.json") as handle:
        best = json.load(handle)
    assert best["trial"] == "0003" and best["architecture"]["blocks"] == [2, 1]


def test_every_finalist_diverging_is_a_failure_not_a_winner(tmp_path):
    space = _space()
    rows = _rows(space, [((1, 1), (8, 8), 0.50)])
    _project(tmp_path, space, rows)
    scores = {_default(space): None, ((1, 1), (8, 8)): None}
    final = finalists.Finalists(str(tmp_path), space, BASE, TRIAL_CONFIG, data=random_data(),
                                train_fn=_fake_train(scores, []))
    with pytest.raises(TrainingDiverged, match=r"every finalist diverged \(default, trial_0000\); no winner"):
        final.run(rows, 1)
    with open(tmp_path / "best.json") as handle:
        assert "chosen_by" not in json.load(handle)


def test_a_recipes_search_has_finalists_by_default_and_a_count_given_wins():
    settings = resolve_settings(recipe_config("fast", 15), recipe="fast")
    assert settings.finalists == RECIPE_FINALISTS == 2
    assert any(f"its {RECIPE_FINALISTS} best other networks" in note for note in settings.notes)
    assert resolve_settings(TrainConfig()).finalists == 0
    assert resolve_settings(recipe_config("fast", 15), recipe="fast", finalists=0).finalists == 0
    assert resolve_settings(TrainConfig(), finalists=2).finalists == 2


@pytest.mark.parametrize("count", [-1, 1.5, True, "3"])
def test_a_finalist_count_that_is_not_a_whole_number_is_refused(count):
    with pytest.raises(ValueError, match=r"finalists: received .*; accepted: an integer >= 0"):
        check_finalists(count)


def test_a_search_with_finalists_trains_them_chooses_on_validation_and_a_rerun_trains_nothing(tmp_path, monkeypatch):
    """End to end, in this process: the default trained before 3 random trials, 1 finalist after (1 epoch
    each, the search's data split); best.json is the chosen one; the same search again reuses their runs."""
    from keras_resnet_cifar.tuning.search import run_search

    space, data = _space(), random_data()
    base = BASE.replace(optim={"epochs": 1}, data={"val_fraction": 0.25})
    kwargs = dict(tuner="random", max_trials=3, epochs=1, directory=tmp_path, project="p", data=data,
                  trial={"optim": {"batch_size": 4}}, finalists=1, finalist_data=data, max_minutes=60)
    summary = run_search(base, space, **kwargs)
    project = tmp_path / "p"
    runs = sorted(os.listdir(project / finalists.FOLDER))
    assert runs[0] == "default" and len(runs) == 2
    assert all((project / finalists.FOLDER / run / "metrics.json").exists() for run in runs)
    default_seconds = summary["finalists"]["finalists"][0]["seconds"]
    assert summary["reserved_minutes"] == round(default_seconds / 60, 1)
    result = summary["finalists"]
    best = max(result["finalists"], key=lambda r: (r["full_val_accuracy"], -r["trainable_params"],
                                                   r["run"] == "default"))
    assert result["chosen"] == best["run"]
    with open(project / "best.json") as handle:
        assert json.load(handle)["finalist"] == best["run"]
    stamps = {run: os.path.getmtime(project / finalists.FOLDER / run / "metrics.json") for run in runs}
    again = run_search(base, space, **kwargs)
    assert again["finalists"]["chosen"] == result["chosen"]
    assert {run: os.path.getmtime(project / finalists.FOLDER / run / "metrics.json") for run in runs} == stamps

    from keras_resnet_cifar.errors import Interrupted
    from keras_resnet_cifar.signals import StopRequest
    from keras_resnet_cifar.tuning import search as search_module

    @contextlib.contextmanager
    def signalled():  # SIGTERM arrived after the last trial: no more finalist is trained
        request = StopRequest()
        request.signum = signal.SIGTERM
        yield request

    monkeypatch.setattr(search_module, "stop_requests", signalled)
    with pytest.raises(Interrupted, match="after the search; rerun the same search to train its finalists"):
        run_search(base, space, **{**kwargs, "finalists": 2})
    assert sorted(os.listdir(project / finalists.FOLDER)) == runs


def test_the_finalists_reserve_ends_the_search_that_much_earlier(tmp_path, monkeypatch):
    """`tune --max-minutes 1` with 60 s kept for finalists starts no trial once the clock is past 0 s."""
    from keras_resnet_cifar.tuning import oracle as oracle_module
    from keras_resnet_cifar.tuning.oracle import ORACLES

    clock = [1000.0]
    monkeypatch.setattr(oracle_module.time, "monotonic", lambda: clock[0])
    oracle = ORACLES["random"](_space(), seed=1, max_minutes=1, max_trials=5)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.reserve_seconds = 30.0
    assert oracle.create_trial("tuner0").status == "RUNNING"
    clock[0] += 31
    assert oracle.create_trial("tuner1").status == "STOPPED" and oracle.time_stopped
