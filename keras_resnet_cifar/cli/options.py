"""The command line's config flags, made from the config fields: one flag per setting, one name everywhere.

Every `option` of `TrainConfig` (and of its sections) becomes `--field-name` with the field's help and
type; defaults are None, so a flag given wins over `--config FILE.json`, which wins over the defaults.
Subcommands take the sections they need (`add_config_args(parser, sections=("data",))`) and leave out
flags that mean something else there (`skip`).
"""
import argparse

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.fields import flag_of, help_text, options, sections
from keras_resnet_cifar.files import read_json
from keras_resnet_cifar.presets import PRESETS, get_preset
from keras_resnet_cifar.recipes import RECIPES, recipe_config
from keras_resnet_cifar.errors import UserError

_PREFIX = "config:"  # argparse dests of config flags: "config:optim.lr"
_TITLES = {"model": "model", "data": "data", "data.augment": "augmentation", "optim": "optimization",
           "": "execution"}


def walk(cls=TrainConfig, prefix=""):
    """(section path, field) of every option of `cls` and its sections, e.g. ("optim", <lr>)."""
    for f in options(cls):
        yield prefix, f
    for name, section_cls in sections(cls).items():
        yield from walk(section_cls, f"{prefix}.{name}" if prefix else name)


def add_config_args(parser, *, sections=None, skip=(), base=True, config_class=TrainConfig):
    """Add a flag per config option (and `--config FILE.json`, `--preset` with the model section).

    Args:
        parser: an argparse parser.
        sections: the section paths to add ("model", "data", "data.augment", "optim", "" for the
            top-level settings); default all.
        skip: field names whose flags this subcommand defines otherwise.
        base: add `--config FILE.json`.
        config_class: the config whose options become flags. Default `TrainConfig`.
    """
    if base:
        parser.add_argument("--config", metavar="FILE.json", help="a TrainConfig (e.g. a run's config.json) as the "
                                                                  "base; flags given win")
        parser.add_argument("--recipe", choices=sorted(RECIPES), help="a named recipe on top of the base (fast: "
                            "high accuracy per CPU-minute, see recipes.py); flags given win")
        parser.add_argument("--minutes", type=int, help="the recipe's time budget on our 2-core CPU ("
                            + "; ".join(f"{name}: {', '.join(map(str, sorted(tiers)))}" for name, tiers in RECIPES.items())
                            + "; default 15)")
    groups = {}
    for path, f in walk(config_class):
        if (sections is not None and path not in sections) or f.name in skip or not f.metadata["cli"]:
            continue
        if path not in groups:
            groups[path] = parser.add_argument_group(_TITLES[path])
            if path == "model":
                groups[path].add_argument("--preset", choices=sorted(PRESETS), help="a named network (Table 1); "
                                          "--blocks/--channels and the other model flags change it")
        kwargs = dict(f.metadata["check"].cli)
        if kwargs.get("action") == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        groups[path].add_argument(flag_of(f.name), *f.metadata["aliases"], dest=_PREFIX + _join(path, f.name),
                                  default=None, help=help_text(f), **kwargs)


def config_changes(args):
    """The nested {section: {field: value}} of the config flags given (with --preset's model)."""
    changes = {}
    for dest, value in vars(args).items():
        if dest.startswith(_PREFIX) and value is not None:
            *path, name = dest[len(_PREFIX):].split(".")
            target = changes
            for key in path:
                target = target.setdefault(key, {})
            target[name] = value
    if getattr(args, "preset", None):
        changes["model"] = {**get_preset(args.preset), **changes.get("model", {})}
    return changes


def config_from_args(args, base=None):
    """The `TrainConfig` that `args` describe: `base` (default: --config FILE.json, else the study's
    defaults), then --recipe NAME --minutes N, then the flags given; the result checks itself."""
    if base is None:
        base = load_config(args.config) if getattr(args, "config", None) else TrainConfig()
    if getattr(args, "recipe", None):
        base = recipe_config(args.recipe, args.minutes or 15, base)
    elif getattr(args, "minutes", None) is not None:
        raise UserError(f"--minutes: received {args.minutes} without --recipe; accepted: with --recipe NAME")
    return base.replace(**config_changes(args))


def load_config(path):
    """A `TrainConfig` from a JSON file, a wrong file named with the problem."""
    return TrainConfig.from_dict(read_json(path))


def _join(path, name):
    return f"{path}.{name}" if path else name
