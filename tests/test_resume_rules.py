"""Whether a setting may change on resume is its field's `on_resume`: runs, searches and experiments obey it."""
import dataclasses
import json
import os

import pytest

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.experiments.grids import experiment_cells, get_experiment
from keras_resnet_cifar.experiments.runner import _record
from keras_resnet_cifar.fields import Int, option, resume_changes
from keras_resnet_cifar.training.rundir import prepare
from keras_resnet_cifar.tuning.search import _check_resume
from keras_resnet_cifar.tuning.space import SearchSpace


@dataclasses.dataclass(frozen=True)
class LoggedConfig(TrainConfig):
    """TrainConfig with one more option that only changes what is printed, so a resume may change it."""

    log_every: int = option(0, Int(0), "print a line every N batches (0: never)", on_resume="free")


def _write(path, data):
    with open(path, "w") as handle:
        json.dump(data, handle)


def _run(tmp_path, saved, requested):
    os.makedirs(tmp_path / "run", exist_ok=True)
    _write(tmp_path / "run" / "config.json", saved.to_dict())
    return prepare(tmp_path / "run", requested)


def _search(tmp_path, saved, requested):
    folder = tmp_path / "search"
    folder.mkdir(exist_ok=True)
    space = SearchSpace.create().describe()
    search = {"tuner": "random", "epochs": 1}
    _write(folder / "oracle.json", {})
    _write(folder / "space.json", {"space": space, "search": search, "training": saved.to_dict()})
    return _check_resume(str(folder), {"space": space, "search": search, "training": requested.to_dict()},
                         type(requested))


def _experiment(tmp_path, saved, requested):
    experiment = get_experiment("orderings")
    cells = experiment_cells("orderings", presets=["tiny"], variants=["a"], base_config=saved)
    arguments = {"presets": ["tiny"], "variants": ["a"], "epochs": None}
    workdir = str(tmp_path / "experiment")
    _record(workdir, experiment, cells, arguments, 1, "first", saved)
    return _record(workdir, experiment, cells, arguments, 1, "second", requested)


RESUMES = {"run": _run, "search": _search, "experiment": _experiment}


@pytest.mark.parametrize("resume", RESUMES)
def test_a_new_free_option_may_change_on_every_resume(resume, tmp_path):
    RESUMES[resume](tmp_path, LoggedConfig(log_every=10, verbose=0), LoggedConfig(log_every=50, verbose=2))


@pytest.mark.parametrize("resume", RESUMES)
def test_a_normal_option_still_refuses_the_resume(resume, tmp_path):
    with pytest.raises(FileExistsError) as error:
        RESUMES[resume](tmp_path, LoggedConfig(), LoggedConfig(log_every=50).replace(optim={"lr": 0.05}))
    message = str(error.value)
    assert "optim.lr: 0.1 -> 0.05" in message and "log_every" not in message


def test_a_config_saved_before_an_option_existed_resumes_at_its_default():
    saved = TrainConfig().to_dict()  # no log_every
    assert resume_changes(LoggedConfig, saved, LoggedConfig(log_every=7)) == []
    assert resume_changes(LoggedConfig, saved, LoggedConfig(seed=3)) == ["seed: 0 -> 3"]


def test_a_saved_config_that_does_not_parse_is_compared_as_it_is():
    saved = {**TrainConfig().to_dict(), "retired_option": 1}
    assert resume_changes(TrainConfig, saved, TrainConfig()) == ["retired_option: 1 -> None"]


def test_the_resume_rule_is_checked_where_it_is_declared():
    with pytest.raises(ValueError, match="on_resume: received 'sometimes'; accepted: 'same', 'free'"):
        option(0, Int(0), "help", on_resume="sometimes")


def test_a_search_stored_by_the_older_format_resumes(tmp_path):
    # space.json used to keep the training config without verbose (then the one setting a resume could change).
    config = TrainConfig(verbose=0)
    space, search = SearchSpace.create().describe(), {"tuner": "random", "epochs": 1}
    older = {k: v for k, v in config.to_dict().items() if k != "verbose"}
    _write(tmp_path / "oracle.json", {})
    _write(tmp_path / "space.json", {"space": space, "search": search, "training": older})
    _check_resume(str(tmp_path), {"space": space, "search": search, "training": config.to_dict()}, TrainConfig)
    with pytest.raises(FileExistsError, match="training.seed: 0 -> 1"):
        _check_resume(str(tmp_path), {"space": space, "search": search, "training": config.replace(seed=1).to_dict()},
                      TrainConfig)


def test_a_new_training_option_is_one_field_flag_help_check_and_file_included():
    """Adding an option is the field alone: its flag, help with its default, its check and its place in config.json."""
    import argparse

    from keras_resnet_cifar.cli.options import add_config_args, config_changes

    parser = argparse.ArgumentParser()
    add_config_args(parser, base=False, config_class=LoggedConfig)
    assert "print a line every N batches (0: never) (default 0)" in " ".join(parser.format_help().split())
    changes = config_changes(parser.parse_args(["--log-every", "7"]))
    assert changes == {"log_every": 7}
    config = LoggedConfig().replace(**changes)
    assert LoggedConfig.from_dict(json.loads(json.dumps(config.to_dict()))).log_every == 7
    with pytest.raises(ValueError, match="log_every: received -1"):
        LoggedConfig(log_every=-1)
