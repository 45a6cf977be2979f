"""The config spine: one field per setting, seen by the CLI, config.json and the tuner alike."""
import argparse
import dataclasses
import json
import os

import pytest

from keras_resnet_cifar.cli import build_parser
from keras_resnet_cifar.cli.options import add_config_args, config_from_args, walk
from keras_resnet_cifar.config import AugmentConfig, DataConfig, ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.fields import Bool, format_default, option, section
from keras_resnet_cifar.spec import ResNetSpec, block_order_table


def test_model_config_is_the_network_spec_with_canonical_values():
    assert ModelConfig is ResNetSpec  # the older name, kept importable for scripts written against it
    assert dataclasses.fields(TrainConfig)[0].metadata["section"] is ResNetSpec
    config = TrainConfig(model={"block_order": "full_preact", "activation": "silu"})
    assert (config.model.block_order, config.model.activation) == ("e", "swish")
    assert config == TrainConfig(model={"block_order": "e", "activation": "swish"})


def test_json_round_trip_and_the_older_flat_layout_upgrades():
    config = TrainConfig(model=ModelConfig.from_preset("tiny"), data={"augment": {"cutout": 8}},
                         optim={"label_smoothing": 0.1})
    assert TrainConfig.from_json(config.to_json()) == config
    old = json.loads(config.to_json())
    old["data"].update(old["data"].pop("augment"))
    old["data"]["label_smoothing"] = old["optim"].pop("label_smoothing")  # config.json before the split
    assert TrainConfig.from_dict(old) == config


@pytest.mark.parametrize("saved, message", [
    ([1, 2], "config: received [1, 2]; accepted: a JSON object"),
    ({"model": 3}, "model: received 3; accepted: a JSON object"),
    ({"data": {"augment": "crop"}}, "data.augment: received 'crop'; accepted: a JSON object"),
    ({"data": {"mean": [0.5, 0.5]}}, "data.mean: received [0.5, 0.5]; accepted: 3 numbers (--mean)"),
    ({"model": {"channels": "64"}}, "model.channels: received '64'; accepted: a non-empty list"),
    ({"model": {"channels": [64, "a", 3, 4]}}, "model.channels[1]: received 'a'"),
    ({"optim": {"learning_rate": 0.1}}, "optim: received unknown keys ['learning_rate']"),
    ({"seed": -1}, "seed: received -1; accepted: an integer >= 0 (--seed)"),
])
def test_a_wrong_structure_is_refused_naming_its_key_path(saved, message):
    with pytest.raises(ValueError) as error:
        TrainConfig.from_dict(saved)
    assert message in str(error.value)


def test_train_accepts_a_dict_or_says_what_it_accepts():
    assert TrainConfig.coerce({"optim": {"lr": 0.05}}).optim.lr == 0.05
    with pytest.raises(TypeError, match="config: received list; accepted: a TrainConfig or a dict"):
        TrainConfig.coerce([])


def test_every_option_has_one_flag_and_the_flags_are_unique():
    flags = [f"--{f.name.replace('_', '-')}" for _, f in walk()]
    assert len(flags) == len(set(flags))
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    offered = {s for action in train._actions for s in action.option_strings}
    hidden = {f"--{f.name.replace('_', '-')}" for _, f in walk() if not f.metadata["cli"]}
    assert set(flags) - hidden <= offered


def test_a_new_field_is_seen_by_the_cli_the_json_round_trip_and_the_tuner():
    """Adding an option is the field (with its check and help) and its use: nothing else to edit."""
    @dataclasses.dataclass(frozen=True)
    class Model(ResNetSpec):
        zero_init_demo: bool = option(False, Bool(), "a new option for this test")

    @dataclasses.dataclass(frozen=True)
    class Config(TrainConfig):
        model: Model = section(Model)

    parser = argparse.ArgumentParser()
    add_config_args(parser, config_class=Config)
    args = parser.parse_args(["--zero-init-demo", "--blocks", "1", "1", "--channels", "4", "8"])
    config = config_from_args(args, Config())
    assert config.model.zero_init_demo is True and config.model.blocks == (1, 1)
    assert Config.from_json(config.to_json()) == config  # the config.json round trip
    with pytest.raises(ValueError, match=r"model.zero_init_demo: received 'yes'; accepted: true or false"):
        Config(model={"zero_init_demo": "yes"})
    from keras_resnet_cifar.tuning.space import SearchSpace  # the tuner's trial configs keep it
    space = SearchSpace.create(config, stages=[2], blocks=[1, 1], widths=[4, 8])
    trial = space.train_config(space.default, config)
    assert trial.model.zero_init_demo is True and isinstance(trial.model, Model)


def test_run_settings_and_sections_check_themselves():
    with pytest.raises(ValueError, match="optim.min_lr: received 0.2 for lr 0.1"):
        OptimConfig(min_lr=0.2)
    with pytest.raises(ValueError, match=r"data.augment.cutout: received -3; accepted: an integer >= 0 \(--cutout\)"):
        DataConfig(augment={"cutout": -3})
    assert DataConfig(augment=AugmentConfig(cutout=4)).augment.cutout == 4
    scale, offset = DataConfig(normalize=False).pixel_affine()
    assert scale == (1 / 255,) * 3 and offset == (0.0,) * 3


def test_a_run_saved_with_an_alias_and_the_old_layout_resumes_with_the_canonical_config(tmp_path):
    from keras_resnet_cifar.training.rundir import prepare

    config = TrainConfig(model=ModelConfig.from_preset("tiny", block_order="full_preact"), optim={"epochs": 2})
    saved = json.loads(config.to_json())
    saved["model"]["block_order"] = "full_preact"  # as the user typed it, before canonical values
    saved["model"]["kernel_size"] = 3
    saved["data"].update(saved["data"].pop("augment"))
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert prepare(tmp_path, TrainConfig(model=ModelConfig.from_preset("tiny", block_order="e"),
                                         optim={"epochs": 2})) == "resume"


def test_the_experiment_runner_loads_data_with_every_data_setting(monkeypatch):
    """Its own copy of the load call once dropped `resize`; now the DataConfig itself is passed."""
    import keras_resnet_cifar.data as data_module
    from keras_resnet_cifar.experiments import runner

    seen = []
    monkeypatch.setattr(data_module, "load_data", lambda data, **kwargs: seen.append((data, kwargs)) or "loaded")
    config = TrainConfig(data={"source": "images/", "resize": True, "train_subset": 30}, seed=2)
    assert runner._load({}, config) == "loaded"
    assert seen == [(config.data, {"seed": 2, "verbose": True})]


def test_a_bug_keeps_its_traceback_while_user_errors_print_one_line(monkeypatch, capsys):
    from keras_resnet_cifar.cli import main
    import keras_resnet_cifar.network_summary as summary

    monkeypatch.setattr(summary, "format_summary", lambda spec: {}["missing"])
    with pytest.raises(KeyError):
        main(["summary", "--preset", "tiny"])
    from keras_resnet_cifar.errors import UserError

    monkeypatch.setattr(summary, "format_summary", lambda spec: (_ for _ in ()).throw(UserError("bad input")))
    assert main(["summary", "--preset", "tiny"]) == 2
    assert capsys.readouterr().err.strip() == "keras-resnet-cifar summary: error: bad input"


def test_train_and_tune_take_a_recipe_as_the_base_and_flags_win(capsys):
    from keras_resnet_cifar.cli.train import train_config
    from keras_resnet_cifar.recipes import recipe_config

    parser = build_parser()
    config = train_config(parser.parse_args(["train", "--recipe", "fast", "--minutes", "60", "--seed", "2",
                                             "--epochs", "5"]))
    assert config == recipe_config("fast", 60).replace(seed=2, optim={"epochs": 5})
    with pytest.raises(ValueError, match="--minutes: received 60 without --recipe"):
        train_config(parser.parse_args(["train", "--minutes", "60"]))
    args = parser.parse_args(["tune", "--recipe", "fast", "--stages", "2", "--widths", "8", "16"])
    tuned = config_from_args(args)  # what each trial trains with, before the search sets its architecture
    assert tuned.optim.schedule == "triangular" and tuned.optim.label_smoothing == 0.2 and tuned.data.tta


def _config_actions():
    parser = argparse.ArgumentParser()
    add_config_args(parser, base=False)
    return {action.dest: action for action in parser._actions}


def test_every_help_line_shows_its_field_default_which_the_flag_parses_back():
    actions = _config_actions()
    for path, f in walk():
        if not f.metadata["cli"]:
            continue
        assert "(default" not in f.metadata["help"], f"{f.name}: its help writes a default by hand"
        action = actions["config:" + (f"{path}.{f.name}" if path else f.name)]
        shown = action.help.rsplit("(default ", 1)[1].rstrip(")")
        assert shown == format_default(f.default), f.name
        if isinstance(f.default, bool) or f.default is None:
            assert shown == {True: "on", False: "off", None: "none"}[f.default]
            continue
        # the default as shown, typed back as the flag's value, gives the default itself
        parser = argparse.ArgumentParser()
        add_config_args(parser, base=False)
        args = parser.parse_args([action.option_strings[0], *shown.split()])
        config = config_from_args(args, TrainConfig())
        assert config == TrainConfig(), f"{f.name}: --help shows {shown!r}, which is not the default"


def test_the_docs_block_order_table_is_the_one_the_spec_renders():
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "model.md"), encoding="utf-8") as handle:
        page = handle.read()
    table = block_order_table()
    assert table in page
    assert page.count("| order | name | unit |") == 1
    # --help describes each ordering from the same table
    help_line = _config_actions()["config:model.block_order"].help
    for row in table.splitlines()[2:]:
        letter, alias, unit = [cell.strip() for cell in row.strip("|").split("|")][:3]
        assert f"{letter} {alias}: {unit.split(';')[0]}" in help_line
