"""Settings that carry their default, check and help in one place, and the frozen configs made of them.

A config class is a frozen dataclass deriving from `Config` whose fields are `option(...)`s (one setting:
default, check, help) or `section(...)`s (a nested config). Constructing one checks every field and
stores its canonical value (aliases resolved, lists made tuples), so a config that exists is valid and
two configs that mean the same compare equal. The CLI makes its flags from the same fields
(`cli/options.py`), so a new setting is one field plus its use.

No TensorFlow here: configs are checked in microseconds, before any work starts.
"""
import dataclasses
import math
import numbers
from typing import ClassVar
from keras_resnet_cifar.errors import UserError, UserTypeError


def flag_of(name):
    """The command-line flag of a field: `batch_size` -> `--batch-size`."""
    return "--" + name.replace("_", "-")


def refuse(path, value, accepted, flag=None, kind=UserError):
    """Raise `kind` with the one message format of every config error."""
    where = f" ({flag})" if flag else ""
    raise kind(f"{path}: received {value!r}; accepted: {accepted}{where}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Check:
    """How one setting is checked and made canonical; `cli` holds its argparse keywords."""

    accepted = "a value"
    cli: dict = {}

    def __call__(self, value, path, flag=None):
        return value


class Int(Check):
    def __init__(self, minimum=None, maximum=None):
        self.minimum, self.maximum = minimum, maximum
        bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
        self.accepted = "an integer " + " and ".join(b for b in bounds if b) if any(bounds) else "an integer"
        self.cli = {"type": int}

    def __call__(self, value, path, flag=None):
        if not _is_int(value) or (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum):
            refuse(path, value, self.accepted, flag)
        return int(value)


class Real(Check):
    """A finite number for which `test(value)` holds, described by `accepted`."""

    def __init__(self, accepted, test=lambda v: True):
        self.accepted, self.test = accepted, test
        self.cli = {"type": float}

    def __call__(self, value, path, flag=None):
        if not _is_real(value) or not math.isfinite(value) or not self.test(value):
            refuse(path, value, self.accepted, flag)
        return float(value)


class Bool(Check):
    accepted = "true or false"
    cli = {"action": "boolean"}

    def __call__(self, value, path, flag=None):
        if not isinstance(value, bool):
            refuse(path, value, self.accepted, flag)
        return value


class Text(Check):
    accepted = "a string"
    cli = {"type": str}

    def __call__(self, value, path, flag=None):
        if not isinstance(value, str) or not value:
            refuse(path, value, "a non-empty string", flag)
        return value


class Choice(Check):
    """One of `values` (canonical names); `aliases` maps other spellings to them, case-insensitively."""

    def __init__(self, values, aliases=None, describe=None):
        self.values = tuple(values)
        self.aliases = {**{v: v for v in self.values}, **(aliases or {})}
        self.accepted = describe or ", ".join(repr(v) for v in self.values)
        self.cli = {"type": str, "metavar": "{" + ",".join(self.values) + "}"}

    def __call__(self, value, path, flag=None):
        if not isinstance(value, str) or value.lower() not in self.aliases:
            refuse(path, value, self.accepted, flag)
        return self.aliases[value.lower()]


class Sequence(Check):
    """A list of items each passing `item`, as a tuple; `length` fixes how many; `scalar_ok` also takes
    one bare item (kept as is, for a field such as kernel_size that the config broadcasts itself)."""

    def __init__(self, item, length=None, scalar_ok=False, what=None):
        self.item, self.length, self.scalar_ok = item, length, scalar_ok
        count = f"{length} " if length else "a non-empty list of "
        self.accepted = what or f"{count}{item.accepted.replace('an integer', 'integers').replace('a number', 'numbers')}"
        self.cli = {"type": item.cli.get("type", str), "nargs": "+"}

    def __call__(self, value, path, flag=None):
        if self.scalar_ok and not isinstance(value, (list, tuple)):
            return self.item(value, path, flag)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value or (
                self.length and len(value) != self.length):
            refuse(path, value, self.accepted, flag)
        return tuple(self.item(v, f"{path}[{i}]", flag) for i, v in enumerate(value))


class Optional(Check):
    """None, or a value `inner` accepts."""

    def __init__(self, inner):
        self.inner = inner
        self.accepted = f"{inner.accepted}, or null"
        self.cli = inner.cli

    def __call__(self, value, path, flag=None):
        if value is None:
            return None
        try:
            return self.inner(value, path, flag)
        except ValueError:
            refuse(path, value, self.accepted, flag)


RESUME_RULES = ("same", "free")  # option(on_resume=...): a resume must keep the value, or may change it


def option(default, check, help, *, aliases=(), cli=True, on_resume="same"):
    """A setting: its default, its `Check`, its help (shown by --help, which appends "(default X)" from
    `default`: the help never restates it) and other flag spellings.

    `on_resume="free"` marks a setting that changes how a run reports, not what it computes (e.g.
    `verbose`): a resumed run, search or experiment may change it (see `resume_changes`).
    """
    if on_resume not in RESUME_RULES:
        raise UserError(f"on_resume: received {on_resume!r}; accepted: {', '.join(map(repr, RESUME_RULES))}")
    return dataclasses.field(default=default, metadata={"check": check, "help": help, "aliases": tuple(aliases),
                                                        "cli": cli, "on_resume": on_resume})


def section(cls, help=""):
    """A nested config (e.g. `DataConfig.augment`); a dict is accepted and made into `cls`."""
    return dataclasses.field(default_factory=cls, metadata={"section": cls, "help": help})


def options(cls):
    """The `option` fields of a config class (sections left out)."""
    return [f for f in dataclasses.fields(cls) if "check" in f.metadata]


def sections(cls):
    """{name: config class} of a config class's nested sections."""
    return {f.name: f.metadata["section"] for f in dataclasses.fields(cls) if "section" in f.metadata}


def config_diff(old, new, prefix=""):
    """Differences between two config dicts as 'key: old -> new' lines (for refusing a resume)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_diff(a, b, f"{prefix}{key}.")
        elif _normal(a) != _normal(b):
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines


def resume_changes(cls, saved, requested, prefix=""):
    """What forbids resuming `saved` as `requested`: 'key: saved -> requested' lines, empty when it may.

    The one resume rule of runs, searches and experiments: every field must be the same except those
    declared `option(..., on_resume="free")`. A saved dict from an older version gets the fields added
    since at their defaults (so it still resumes); one that does not parse is compared as it is.

    Args:
        cls: the config class (e.g. `TrainConfig`).
        saved: the stored config, a dict (e.g. a config.json) or a `cls`.
        requested: the config about to run, a `cls` or a dict.
        prefix: put before every key in the lines, e.g. "training.".

    Example:
        >>> resume_changes(TrainConfig, TrainConfig(verbose=0).to_dict(), TrainConfig(verbose=2))
        []
    """
    return config_diff(_resume_view(cls, saved), _resume_view(cls, requested), prefix)


def _resume_view(cls, config):
    if isinstance(config, dict):
        try:
            config = cls.from_dict(config)
        except (TypeError, ValueError):  # unknown or malformed keys: compare as saved, so the diff shows them
            return _without_free(cls, config)
    return _without_free(cls, config.to_dict())


def _without_free(cls, data):
    kept = dict(data)
    for f in options(cls):
        if f.metadata.get("on_resume") == "free":
            kept.pop(f.name, None)
    for name, section_cls in sections(cls).items():
        if isinstance(kept.get(name), dict):
            kept[name] = _without_free(section_cls, kept[name])
    return kept


def _normal(value):
    return [_normal(v) for v in value] if isinstance(value, (tuple, list)) else value


def help_text(f):
    """An option's --help line: its help, then "(default X)" from the field's own default, so no help
    string restates a default (and none can go stale)."""
    return f"{f.metadata['help']} (default {format_default(f.default)})"


def format_default(value):
    """A default as a flag would spell it: on/off, none, items separated by spaces, 1e-05 as 1e-5.

    Example:
        >>> format_default((3, 3, 2, 3)), format_default(1e-05), format_default(2.0), format_default(False)
        ('3 3 2 3', '1e-5', '2', 'off')
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return " ".join(format_default(v) for v in value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}e{int(exponent)}" if exponent else (text[:-2] if text.endswith(".0") else text)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of the frozen configs: checks on construction, dict round trip, nested `replace`."""

    PATH: ClassVar[str] = "config"  # key path in a config.json, e.g. "data.augment"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if "section" in f.metadata:
                cls = f.metadata["section"]
                if isinstance(value, dict):
                    value = cls.from_dict(value)
                elif not isinstance(value, cls):
                    refuse(cls.PATH, value, f"a {cls.__name__} or a dict of its fields", kind=UserTypeError)
            elif "check" in f.metadata:
                value = f.metadata["check"](value, self._path(f.name), flag_of(f.name))
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self):
        """Checks across fields (after each field's own); override to add them."""

    @classmethod
    def _path(cls, name):
        return name if cls.PATH == "config" else f"{cls.PATH}.{name}"

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Rebuild from `to_dict()` output (or a JSON object), refusing a wrong structure with its key path."""
        if not isinstance(data, dict):
            refuse(cls.PATH, _short(data), f"a JSON object with keys {sorted(f.name for f in dataclasses.fields(cls))}",
                   kind=UserError)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{cls.PATH}: received unknown keys {unknown}; accepted: {sorted(known)}")
        nested = sections(cls)
        return cls(**{k: nested[k].from_dict(v) if k in nested else v for k, v in data.items()})

    def replace(self, **changes):
        """A copy with fields replaced; a section takes a dict of its own changes, e.g.
        `config.replace(optim={"lr": 0.05}, data={"augment": {"cutout": 8}}, seed=1)`."""
        nested = sections(type(self))
        resolved = {}
        for key, value in changes.items():
            if key in nested and isinstance(value, dict):
                value = getattr(self, key).replace(**value)
            resolved[key] = value
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(resolved) - known)
        if unknown:
            raise UserError(f"{self.PATH}: received unknown keys {unknown}; accepted: {sorted(known)}")
        return dataclasses.replace(self, **resolved)


def _short(value):
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."
