"""The searchable settings as one table (`DIMENSIONS`), and the checks of the values each may take.

Besides the stages, blocks and widths (the architecture's shape, `SearchSpace` itself), every searched
setting is one `Dimension` row: the space's fields, its defaults, its translation to a `TrainConfig`,
the hypermodel's hyperparameters and the tune command's flags are all made from the rows. Adding a
searchable setting is one row here (and its test). Each check's error names what was received and
accepted.
"""
import dataclasses
import math
import numbers

from keras_resnet_cifar.fields import flag_of, refuse
from keras_resnet_cifar.optimizer_table import OPTIMIZERS
from keras_resnet_cifar.spec import resolve_activation, resolve_block_order
from keras_resnet_cifar.errors import UserError

CHOICE, LOG_RANGE = "choice", "log_range"  # Dimension.kind


def _as_tuple(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        value = (value,)
    if not value:
        raise UserError(f"{name}: received an empty list; accepted: one value (fixed) or several (searched)")
    return tuple(value)


def ints(name, value, minimum):
    """Sorted unique integers >= minimum (one value or several)."""
    items = _as_tuple(name, value)
    for item in items:
        if not isinstance(item, numbers.Integral) or isinstance(item, bool) or item < minimum:
            raise UserError(f"{name}: received {list(items)}; accepted: integers >= {minimum}")
    return tuple(sorted({int(i) for i in items}))


def floats(name, value):
    """Sorted unique numbers >= 0 (one value or several)."""
    items = _as_tuple(name, value)
    for item in items:
        if not isinstance(item, numbers.Real) or isinstance(item, bool) or item < 0:
            raise UserError(f"{name}: received {list(items)}; accepted: numbers >= 0")
    return tuple(sorted({float(i) for i in items}))


def choices(name, value, resolve):
    """Unique values in the order given, each mapped through `resolve` (which raises ValueError)."""
    seen = []
    for item in _as_tuple(name, value):
        try:
            canonical = resolve(item)
        except ValueError as error:
            raise UserError(f"{name}: {error}") from None
        if canonical not in seen:
            seen.append(canonical)
    return tuple(seen)


def value_range(name, value, kind, positive=False, minimum=1):
    """(low, high) from one value (fixed) or two (searched); `kind` int or float; not `positive`: each >= `minimum`."""
    items = _as_tuple(name, value)
    low_ok = (lambda v: v > 0) if positive else (lambda v: v >= minimum)
    bad = [v for v in items if not isinstance(v, numbers.Real) or isinstance(v, bool)
           or (kind is int and not isinstance(v, numbers.Integral)) or not low_ok(v)]
    if len(items) > 2 or bad or items[0] > items[-1]:
        accepted = "numbers > 0" if positive else f"integers >= {minimum}"
        raise UserError(f"{name}: received {list(items)}; accepted: one value (fixed) or low high "
                         f"(searched, low <= high), {accepted}")
    return (kind(items[0]), kind(items[-1]))


def budget(name, value):
    """A positive whole budget as an int (a whole float such as 5e6, the flags' type, is accepted)."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value) or value < 1
            or value != int(value)):
        refuse(name, value, "a positive whole number, e.g. 5000000 or 5e6", flag_of(name))
    return int(value)


def optimizer(name):
    """The lower-cased optimizer name, if `make_optimizer` accepts it."""
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise UserError(f"received {name!r}; accepted: {', '.join(OPTIMIZERS)}")
    return name.lower()


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searchable setting: the values it may take, its hyperparameter and the config field it sets.

    Args:
        name: the hyperparameter's name (trial.json, leaderboard), e.g. "kernel_size".
        field: the `SearchSpace` attribute and `SearchSpace.create` keyword holding its values; its flag
            is `--field` with dashes, e.g. "kernel_sizes" (--kernel-sizes).
        path: the `TrainConfig` setting a trial's value goes to, e.g. "model.kernel_size". Left out of
            the search, the dimension is fixed at the training config's value there.
        kind: CHOICE (one value fixes it, several open it) or LOG_RANGE (low, high), log-uniform,
            equal ends fix it.
        check: (field, value) -> the canonical tuple of values; raises ValueError naming `field`.
        counted: whether it changes the trainable parameters or MACs, so the budget counts it (a
            "model." setting; the counter builds no model). Default False.
        cli: argparse keywords of its flag besides nargs="+" (type, metavar). Default {}.
        help: the flag's help, what the values are; --help adds the default (the training config's).
            Default "".
    """

    name: str
    field: str
    path: str
    kind: str
    check: object
    counted: bool = False
    cli: dict = dataclasses.field(default_factory=dict)
    help: str = ""

    def __post_init__(self):
        if self.kind not in (CHOICE, LOG_RANGE):
            raise UserError(f"Dimension {self.name}: kind {self.kind!r}; accepted: {CHOICE!r}, {LOG_RANGE!r}")
        if self.counted and not self.path.startswith("model."):
            raise UserError(f"Dimension {self.name}: counted with path {self.path!r}; accepted: a model setting")

    @property
    def setting(self):
        """The config field's own name, e.g. "kernel_size" (the train flag the tune command replaces)."""
        return self.path.rsplit(".", 1)[-1]

    def values(self, given, config):
        """The checked values: `given` (one value or several), or None for `config`'s value, fixed."""
        return self.check(self.field, self.read(config) if given is None else given)

    def canonical(self, value):
        """One value in its canonical spelling, e.g. "full_preact" -> "e"."""
        return self.check(self.field, value)[0]

    def read(self, config, strict=True):
        """`config`'s value at `path`; a per-stage setting must be one value for all stages (`strict`:
        else a ValueError, not strict: None)."""
        value = config
        for key in self.path.split("."):
            value = getattr(value, key)
        if isinstance(value, tuple):  # per stage (kernel_size): the search sets one for all stages
            if len(set(value)) != 1:
                if not strict:
                    return None
                example = ", ".join(map(str, sorted(set(value))[:2]))
                raise UserError(f"{self.name}: received per-stage {list(value)} in the training config; accepted: "
                                 f"one {self.name.replace('_', ' ')} for all stages when tuning (pass "
                                 f"{self.field}=({example}) to search it)")
            value = value[0]
        return value

    def contains(self, values, value):
        """Whether `value` lies in `values` (a range's ends included)."""
        return values[0] <= value <= values[1] if self.kind == LOG_RANGE else value in values

    def nearest(self, values, value):
        """`value` if inside `values`, else the nearest end (a range) or the first choice."""
        if self.kind == LOG_RANGE:
            return min(max(float(value), values[0]), values[1])
        return value if value in values else values[0]

    def is_open(self, values):
        """Whether `values` search this dimension (more than one value)."""
        return len(set(values)) > 1


def _float_range(name, value):
    return value_range(name, value, float, positive=True)


DIMENSIONS = (
    Dimension("kernel_size", "kernel_sizes", "model.kernel_size", CHOICE, lambda n, v: ints(n, v, 1), counted=True,
              cli={"type": int}, help="odd kernel sizes"),
    Dimension("block_order", "block_orders", "model.block_order", CHOICE,
              lambda n, v: choices(n, v, resolve_block_order), counted=True,
              help="a..e or their names"),
    Dimension("activation", "activations", "model.activation", CHOICE,
              lambda n, v: choices(n, v, lambda a: resolve_activation(a)[0]),
              help="activation names"),
    Dimension("optimizer", "optimizers", "optim.optimizer", CHOICE, lambda n, v: choices(n, v, optimizer),
              help=", ".join(OPTIMIZERS)),
    Dimension("lr", "lr", "optim.lr", LOG_RANGE, _float_range, cli={"type": float, "metavar": "LR"},
              help="LR, or LOW HIGH (log-uniform)"),
    Dimension("weight_decay", "weight_decay", "optim.weight_decay", LOG_RANGE, _float_range,
              cli={"type": float, "metavar": "WD"}, help="WD, or LOW HIGH (log-uniform)"),
    Dimension("mixup_alpha", "mixup_alpha", "data.augment.mixup_alpha", CHOICE, floats,
              cli={"type": float, "metavar": "ALPHA"}, help="mixup alphas (0: off)"),
)


def config_changes(values):
    """The nested `TrainConfig.replace` changes that set each row's `path` to `values[row.name]`."""
    changes = {}
    for dim in DIMENSIONS:
        *sections, name = dim.path.split(".")
        target = changes
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = values[dim.name]
    return changes
