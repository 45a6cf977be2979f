"""Feasible oracles: every proposal within the budget, checked without building a model."""
import keras
import keras_tuner
import pytest

from keras_resnet_cifar import model as model_module
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.params import count_params
from keras_resnet_cifar.tuning.hypermodel import ResNetHyperModel, declare
from keras_resnet_cifar.tuning.oracle import ORACLES, FeasibleBayesianOracle, FeasibleRandomSearchOracle
from keras_resnet_cifar.tuning.space import SearchSpace

BUDGET = 1_000_000


@pytest.fixture
def no_model_built(monkeypatch):
    """Counts every network or Keras model construction; the budget check must need none."""
    calls = []

    def counting(original):
        def wrapper(*args, **kwargs):
            calls.append(original.__name__)
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(model_module, "build_resnet", counting(model_module.build_resnet))
    monkeypatch.setattr(model_module, "build_from_spec", counting(model_module.build_from_spec))
    monkeypatch.setattr(keras.Model, "__init__", counting(keras.Model.__init__))
    return calls


def _space():
    # Wide open: stages, orders and kernel sizes all count in the budget; most raw draws are over it.
    return SearchSpace.create(stages=(3, 4), blocks=(1, 8), block_orders=("a", "e"), kernel_sizes=(3, 5),
                              lr=(0.01, 0.3), max_params=BUDGET)


def _check(space, values):
    arch = space.architecture(values)
    options = {k: v for k, v in arch.items() if k not in ("blocks", "channels")}
    assert count_params(arch["blocks"], arch["channels"], **options) <= BUDGET
    assert len(arch["blocks"]) == values["stages"] and all(c in space.widths for c in arch["channels"])


def test_1000_random_proposals_all_within_budget_and_no_model_built(no_model_built):
    space = _space()
    oracle = FeasibleRandomSearchOracle(space, max_trials=1000, seed=3)
    proposals = [oracle.populate_space(str(i)) for i in range(1000)]
    assert all(p["status"] == "RUNNING" for p in proposals)
    for proposal in proposals:
        _check(space, proposal["values"])
    assert oracle.rejected > 500  # the check did work: most of this space is over budget
    assert len({tuple(sorted(p["values"].items())) for p in proposals}) > 900
    assert no_model_built == []


@pytest.mark.parametrize("kind", ["hyperband", "bayesian"])
def test_other_oracles_random_proposals_are_feasible(kind, no_model_built):
    space = _space()
    kwargs = {"max_epochs": 9} if kind == "hyperband" else {"max_trials": 300}
    oracle = ORACLES[kind](space, seed=5, **kwargs)
    for _ in range(300):
        _check(space, oracle._random_values())
    assert no_model_built == []


def test_bayesian_model_guided_proposals_stay_feasible(tmp_path, no_model_built):
    """A score growing with size pulls the Gaussian process toward the budget; never over it."""
    space = _space()
    oracle = FeasibleBayesianOracle(space, max_trials=10, num_initial_points=3, num_candidates=200, seed=7)
    oracle._set_project_dir(str(tmp_path), "bayes")
    for i in range(6):
        trial = oracle.create_trial(f"tuner{i}")
        assert trial.status == "RUNNING"
        values = trial.hyperparameters.values
        _check(space, values)
        oracle.update_trial(trial.trial_id, {"val_accuracy": space.count(values)[0] / 1e7})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert all(t.status == "COMPLETED" for t in oracle.trials.values())
    assert oracle.gpr.X_train_.shape[0] == 5  # the last proposal was model-guided (fit on 5 trials)
    assert no_model_built == []


def test_declared_defaults_are_the_feasible_space_default():
    space = _space()
    values = declare(space, keras_tuner.HyperParameters())
    assert values == {k: v for k, v in space.default.items()}
    assert space.is_feasible(values)


def test_exhausted_feasible_set_stops_instead_of_proposing_over_budget():
    # Of the 16 raw configurations only [4, 4, 4, 4] fits: one trial, then the oracle stops.
    space = SearchSpace.create(stages=(4,), blocks=(1, 1), widths=(4, 512), max_params=20_000)
    oracle = FeasibleRandomSearchOracle(space, max_trials=50, seed=1, max_draws=200)
    first = oracle.populate_space("0")
    assert first["status"] == "RUNNING" and space.architecture(first["values"])["channels"] == [4, 4, 4, 4]
    oracle._tried_so_far.add(oracle._compute_values_hash(first["values"]))
    assert oracle.populate_space("1")["status"] == "STOPPED"


def test_a_macs_budget_is_checked_as_the_parameter_budget_is_before_any_model_is_built(no_model_built):
    # Parameters allow everything here; 50M MACs per image is the binding budget (most draws are over it).
    space = SearchSpace.create(stages=(3, 4), blocks=(1, 8), kernel_sizes=(3, 5), max_params=10**9,
                               max_macs=50_000_000)
    oracle = FeasibleRandomSearchOracle(space, max_trials=100, seed=3)
    proposals = [oracle.populate_space(str(i))["values"] for i in range(100)]
    assert all(space.count(values)[1] <= 50_000_000 for values in proposals)
    assert oracle.rejected > 100 and len({tuple(sorted(v.items())) for v in proposals}) > 90

    # A hand-made trial (not from the oracle): ResNet24, 529M MACs, is refused before it is built.
    resnet24 = dict(space.default, stages=4, blocks_1=3, channels_1=64, blocks_2=3, channels_2=128, blocks_3=2,
                    channels_3=128, blocks_4=3, channels_4=256, kernel_size=3)
    hp = keras_tuner.HyperParameters()
    declare(space, hp)
    hp.values.update(resnet24)
    with pytest.raises(keras_tuner.errors.FailedTrialError,
                       match="over budget, not built: 529,205,760 MACs > max_macs 50,000,000"):
        ResNetHyperModel(space, TrainConfig(verbose=0), data=None).build(hp)
    assert no_model_built == []


@pytest.mark.parametrize("kind", ["random", "hyperband", "bayesian"])
def test_the_time_budget_starts_no_trial_once_spent_and_counts_over_a_resume(kind, tmp_path, monkeypatch):
    """`tune --max-minutes`: a tuner asking for a new trial after the budget is told to stop (nothing is recorded),
    one whose trial is running keeps it, and a resumed search (a new process) goes on counting."""
    from keras_resnet_cifar.tuning import oracle as oracle_module

    clock = [1000.0]
    monkeypatch.setattr(oracle_module.time, "monotonic", lambda: clock[0])
    kwargs = {"max_epochs": 2} if kind == "hyperband" else {}
    oracle = ORACLES[kind](_space(), seed=1, max_minutes=1, **kwargs)
    oracle._set_project_dir(str(tmp_path), "first")
    running = oracle.create_trial("tuner0")
    assert running.status == "RUNNING" and not oracle.time_stopped
    clock[0] += 61
    assert oracle.create_trial("tuner0") is running  # its trial runs on
    stopped = oracle.create_trial("tuner1")
    assert stopped.status == "STOPPED" and oracle.time_stopped and list(oracle.trials) == [running.trial_id]
    assert oracle.get_state()["search_seconds"] == 61
    oracle.save()  # oracle.json, as a search writes it after each trial

    resumed = ORACLES[kind](_space(), seed=1, max_minutes=2, **kwargs)  # the same search, a larger budget
    resumed._set_project_dir(str(tmp_path), "first")
    resumed.reload()
    clock[0] += 50
    assert resumed.search_seconds() == 111
    assert resumed.create_trial("tuner1").status == "RUNNING"
    clock[0] += 10
    assert resumed.create_trial("tuner2").status == "STOPPED"


@pytest.mark.parametrize("minutes", [0, -5, "60", True])
def test_a_time_budget_that_is_not_a_positive_number_is_refused_before_anything_runs(minutes, tmp_path):
    from keras_resnet_cifar.tuning.search import run_search

    with pytest.raises(ValueError, match=r"max_minutes: received .*; accepted: a number of minutes > 0 "
                                         r"\(--max-minutes\)"):
        run_search(TrainConfig(), _space(), tuner="random", max_minutes=minutes, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["random", "hyperband", "bayesian"])
def test_a_time_budget_without_max_trials_leaves_every_oracle_uncapped(kind):
    from keras_resnet_cifar.tuning.search import _make_oracle

    space = _space()
    oracle = _make_oracle(kind, space, None, 3, 3, 0, max_minutes=60)
    assert oracle.max_trials is None and oracle.max_minutes == 60
    if kind == "hyperband":
        assert oracle.hyperband_iterations == float("inf")
    if kind == "bayesian":  # 3 random trials per open dimension, no cap to halve
        assert oracle.num_initial_points == 3 * len(oracle._nonfixed_space())


@pytest.mark.parametrize("kind", ["random", "hyperband", "bayesian"])
def test_a_search_first_proposes_the_space_default_once_then_draws_and_a_resume_does_not_repeat_it(kind, tmp_path):
    """The first trial is the base config's network (with --recipe fast: airbench94), so the leaderboard ranks it
    under the same trials; later trials are drawn, and a resumed search does not propose it again."""
    kwargs = {"max_epochs": 2} if kind == "hyperband" else {}
    space = _space()
    oracle = ORACLES[kind](space, seed=1, **kwargs)
    oracle._set_project_dir(str(tmp_path), "first")

    def searched(trial):  # without Hyperband's bookkeeping (tuner/epochs, tuner/round, ...)
        return {name: value for name, value in trial.hyperparameters.values.items() if not name.startswith("tuner/")}

    first = oracle.create_trial("tuner0")
    assert searched(first) == space.default and space.is_feasible(searched(first))
    assert searched(oracle.create_trial("tuner1")) != space.default
    oracle.save()

    resumed = ORACLES[kind](space, seed=1, **kwargs)
    resumed._set_project_dir(str(tmp_path), "first")
    resumed.reload()
    assert resumed.default_proposed
    drawn = [resumed._random_values() for _ in range(20)]  # every oracle's new proposals come from here
    assert space.default not in drawn and all(space.is_feasible(values) for values in drawn)

    # A search that already ran trials before this rule (no flag in its state) does not go back to the default.
    state = resumed.get_state()
    del state["default_proposed"]
    older = ORACLES[kind](space, seed=1, **kwargs)
    older.set_state(state)
    assert older.default_proposed


@pytest.mark.parametrize("kind", ["random", "hyperband", "bayesian"])
def test_keras_tuner_state_files_are_written_whole_then_renamed_into_place(kind, tmp_path, monkeypatch):
    """oracle.json, each trial.json and the tuner's <id>.json: Keras Tuner writes them in place, so a worker
    starting beside its chief once read a half-written oracle.json and refused the search as corrupt (CI, the
    distributed test's rerun); a kill -9 mid-write would do the same to a resume. Each must be renamed into place."""
    import glob
    import os

    from keras_resnet_cifar.tuning.search import _ResNetTuner

    placed, replace = [], os.replace

    def spy(source, target):
        placed.append(os.path.relpath(target, tmp_path / "p"))
        replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    space = _space()
    oracle = ORACLES[kind](space, seed=1, **({"max_epochs": 2} if kind == "hyperband" else {}))
    tuner = _ResNetTuner(oracle=oracle, hypermodel=ResNetHyperModel(space, TrainConfig(verbose=0), data=None),
                         directory=str(tmp_path), project_name="p")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    tuner.save()
    written = {os.path.relpath(path, tmp_path / "p") for path in glob.glob(str(tmp_path / "p" / "**" / "*.json"),
                                                                            recursive=True)}
    assert written == {"oracle.json", os.path.join(f"trial_{trial.trial_id}", "trial.json"), "tuner0.json"}
    assert written <= set(placed), f"written in place: {sorted(written - set(placed))}"
    assert not glob.glob(str(tmp_path / "p" / "**" / ".*"), recursive=True)  # no temp file left
    resumed = ORACLES[kind](space, seed=1, **({"max_epochs": 2} if kind == "hyperband" else {}))
    resumed._set_project_dir(str(tmp_path), "p")
    resumed.reload()  # Keras Tuner reads what was written
    assert resumed.trials[trial.trial_id].status == "COMPLETED"
