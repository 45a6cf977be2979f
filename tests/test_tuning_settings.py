"""What the tune command delegates: the search's settings and the distributed roles' environment, without argparse."""
import os

import pytest

from keras_resnet_cifar.cli import build_parser
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.recipes import recipe_config
from keras_resnet_cifar.tuning.distributed import ENVIRONMENT, role, role_environment
from keras_resnet_cifar.tuning.oracle import ORACLES
from keras_resnet_cifar.tuning.settings import RECIPE_TRIAL, TUNERS, resolve_settings
from keras_resnet_cifar.tuning.space import DEFAULT_MAX_PARAMS


@pytest.mark.parametrize("tuner, epochs, expected", [("hyperband", None, 9), ("random", None, 3),
                                                     ("bayesian", None, 3), ("hyperband", 4, 4)])
def test_epochs_per_trial_default_by_tuner(tuner, epochs, expected):
    settings = resolve_settings(TrainConfig(), tuner=tuner, epochs=epochs)
    assert settings.epochs == expected and settings.config == TrainConfig() and settings.notes == ()


def test_a_base_without_validation_split_is_searched_with_one_said_aloud():
    base = recipe_config("fast", 15)
    assert base.data.val_fraction == 0
    settings = resolve_settings(base, tuner="random")
    assert settings.config == base and settings.trial == {"data": {"val_fraction": 0.1}}  # the winner: every image
    assert settings.notes == ("tune: trials are ranked on a validation split, 10% of the training images; the "
                              "winner's training keeps the config's val_fraction 0 (every image; pass "
                              "--val-fraction to choose another for both)",)
    chosen = resolve_settings(base.replace(data={"val_fraction": 0.2}), asked={"data": {"val_fraction": 0.2}})
    assert chosen.config.data.val_fraction == 0.2 and chosen.notes == () and chosen.trial == {}


def test_a_recipes_search_is_flop_fair_unless_told_otherwise():
    """`tune --recipe fast`: no proposal costs more MACs per image than the recipe's own network (airbench94's
    118.1M), so a winner trains in the recipe's time; --max-macs wins; without a recipe there is no limit."""
    from keras_resnet_cifar.cli.options import config_from_args
    from keras_resnet_cifar.cli.tune import space_from_args
    from keras_resnet_cifar.params import count_network

    args = build_parser().parse_args(["tune", "--recipe", "fast", "--minutes", "15"])
    settings = resolve_settings(config_from_args(args), recipe=args.recipe, max_macs=args.max_macs)
    assert settings.max_macs == count_network(recipe_config("fast", 15).model).macs == 118_147_360
    assert ("tune: --max-macs 118,147,360, the fast recipe's network's MACs per image: a winner trains in the "
            "recipe's time (pass --max-macs to choose another)") in settings.notes
    space = space_from_args(args, settings.config, settings.max_macs)
    assert space.max_macs == 118_147_360 and space.is_feasible(space.default)  # the recipe's network fits
    wider = {**space.default, "channels_1": 128}
    assert space.violation(wider).endswith("MACs > max_macs 118,147,360")
    chosen = resolve_settings(recipe_config("fast", 15), recipe="fast", max_macs=2e8)
    assert chosen.max_macs == 2e8 and not any("max-macs" in note for note in chosen.notes)
    assert resolve_settings(TrainConfig()).max_macs is None


def _tune_settings(*flags):
    from keras_resnet_cifar.cli.options import config_changes, config_from_args

    args = build_parser().parse_args(["tune", *flags])
    return resolve_settings(config_from_args(args), tuner=args.tuner, epochs=args.epochs, asked=config_changes(args),
                            recipe=args.recipe, max_macs=args.max_macs)


def test_a_recipes_trials_are_the_measured_proxy_and_each_flag_given_wins():
    """`tune --recipe fast`: trials train the proxy that benchmarks/proxy_rank.py measured (one of its candidates),
    not the recipe's batch on a handful of steps; the winner's config keeps the recipe's full training."""
    from file_helpers import load_benchmark

    proxy_rank = load_benchmark("proxy_rank")
    measured = (RECIPE_TRIAL["epochs"], RECIPE_TRIAL["train_subset"], RECIPE_TRIAL["val_subset"],
                RECIPE_TRIAL["batch_size"])
    assert measured in proxy_rank.PROXIES.values()

    settings = _tune_settings("--recipe", "fast")
    recipe = recipe_config("fast", 15)
    assert (settings.epochs, settings.train_subset) == (RECIPE_TRIAL["epochs"], RECIPE_TRIAL["train_subset"])
    assert settings.trial == {"data": {"val_fraction": 0.1, "val_subset": RECIPE_TRIAL["val_subset"]},
                              "optim": {"batch_size": RECIPE_TRIAL["batch_size"]}}
    assert settings.config == recipe  # the winner trains the recipe's way: every image, its batch and epochs
    assert settings.config.optim.batch_size == 1024 != RECIPE_TRIAL["batch_size"]
    assert any(note.startswith(f"tune: each trial trains {RECIPE_TRIAL['epochs']} epochs on 10,000 images at batch "
                               "512, ranked on 2,000 validation images") for note in settings.notes)

    chosen = _tune_settings("--recipe", "fast", "--epochs", "2", "--train-subset", "3000", "--val-subset", "500",
                            "--batch-size", "128", "--tuner", "random")
    assert (chosen.epochs, chosen.train_subset) == (2, 3000)
    assert chosen.trial == {"data": {"val_fraction": 0.1, "val_subset": 500}, "optim": {"batch_size": 128}}

    plain = _tune_settings("--tuner", "random")  # no recipe: no proxy, every image, the base config's batch
    assert (plain.epochs, plain.train_subset, plain.trial) == (3, None, {})


def test_an_explicit_val_fraction_of_zero_is_refused_never_rewritten():
    with pytest.raises(ValueError, match=r"--val-fraction: received 0; accepted: a fraction in \(0, 1\)"):
        resolve_settings(recipe_config("fast", 15), asked={"data": {"val_fraction": 0}})


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_a_worker_role_is_set_for_the_search_and_removed_after(clean_environment):
    with role_environment(worker="gpu0", oracle_port=8123):
        assert (os.environ["KERASTUNER_TUNER_ID"], os.environ["KERASTUNER_ORACLE_IP"],
                os.environ["KERASTUNER_ORACLE_PORT"]) == ("gpu0", "127.0.0.1", "8123")
        assert role() == "worker"
    assert not any(name in os.environ for name in ENVIRONMENT) and role() == "standalone"


def test_the_chief_keeps_addresses_set_by_hand_and_they_are_restored(clean_environment, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.5")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "9000")
    with pytest.raises(RuntimeError):
        with role_environment(chief=True):
            assert role() == "chief" and os.environ["KERASTUNER_ORACLE_IP"] == "10.0.0.5"
            assert os.environ["KERASTUNER_ORACLE_PORT"] == "9000"
            raise RuntimeError("the search failed")  # the environment is restored all the same
    assert os.environ["KERASTUNER_ORACLE_IP"] == "10.0.0.5" and "KERASTUNER_TUNER_ID" not in os.environ


def test_no_role_sets_nothing(clean_environment):
    with role_environment():
        assert role() == "standalone"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"oracle_port": 8000}, "--oracle-ip/--oracle-port: received without --chief or --worker ID"),
    ({"worker": "chief2"}, "--worker: received 'chief2'; accepted: an id without 'chief'"),
    ({"chief": True, "worker": "w0"}, "--chief and --worker: received both"),
])
def test_wrong_roles_are_refused_before_anything_is_set(kwargs, fragment, clean_environment):
    with pytest.raises(ValueError, match=fragment):
        with role_environment(**kwargs):
            pass
    assert not any(name in os.environ for name in ENVIRONMENT)


def test_every_tuner_the_cli_offers_has_its_feasible_oracle():
    assert tuple(ORACLES) == TUNERS
    args = build_parser().parse_args(["tune"])
    assert args.tuner == "hyperband" and args.max_params == DEFAULT_MAX_PARAMS
