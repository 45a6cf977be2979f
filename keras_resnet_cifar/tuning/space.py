"""The search space as data, and its budget check (analytic: no model is built).

The architecture's shape is the space's own: `stages`, and per stage its residual units
(`blocks_1`..) and width (`channels_1`..), stage i's two active only when `stages >= i`.
Every other searched setting is a row of `dimensions.DIMENSIONS` (kernel size, block order,
activation, optimizer, lr, weight decay, mixup alpha): a tuple of values, where one value fixes
it and several open it (lr and weight decay are ranges `(low, high)`, equal ends fix them).
Dimensions left out take the training config's value, fixed.
"""
import dataclasses
import itertools

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.spec import ResNetSpec
from keras_resnet_cifar.tuning import dimensions
from keras_resnet_cifar.tuning.dimensions import budget as _budget, ints as _ints, value_range as _range
from keras_resnet_cifar.errors import UserError, UserTypeError

DEFAULT_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
DEFAULT_MAX_PARAMS = 5_000_000  # the study's trainable-parameter budget
_SHAPE = ("blocks", "channels")  # the default's architecture keys besides the dimensions


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A validated search space with its budget; build it with `SearchSpace.create`.

    Each row of `dimensions.DIMENSIONS` is an attribute too, its `field`: `space.lr`,
    `space.optimizers`, `space.kernel_sizes`...
    """

    stages: tuple
    blocks: tuple  # (low, high) residual units per stage
    widths: tuple
    dimension_values: dict  # Dimension.field -> its checked values, one entry per DIMENSIONS row
    max_params: int
    max_macs: int | None
    default: dict  # hyperparameter name -> value; always within the budget
    template: ResNetSpec  # the fixed builder options (skip kernel, pool, classes, input)

    def __getattr__(self, name):  # the dimensions' values as attributes: space.lr, space.optimizers
        values = self.__dict__.get("dimension_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def create(cls, config=None, *, stages=None, blocks=None, widths=None, max_params=DEFAULT_MAX_PARAMS,
               max_macs=None, default=None, input_shape=(32, 32, 3), **given):
        """Validate a space and its budget; dimensions left as None are fixed at `config`'s value.

        Args:
            config: TrainConfig giving the fixed settings. Default TrainConfig() (ResNet24, SGDN).
            stages: numbers of stages to try. Default: the config's model's.
            blocks: (low, high) residual units per stage. Default (1, 8), or (0, 1) for conv-pool
                stages (`stage_kind` "convpool", e.g. the fast recipe: residual units after each group).
            widths: channel widths each stage may take. Default DEFAULT_WIDTHS.
            max_params: trainable-parameter budget. Default DEFAULT_MAX_PARAMS, 5,000,000.
            max_macs: optional multiply-accumulate budget per image. Default None.
            default: dict with "blocks" and "channels" (and optionally the dimensions' names) for the
                hypermodel's default; it must lie in the space and the budget. Default None: the
                config's model if it does, else the smallest model.
            input_shape: image shape. Default (32, 32, 3).
            **given: one keyword per row of `dimensions.DIMENSIONS`, by its `field`: kernel_sizes,
                block_orders, activations, optimizers, mixup_alpha (choices); lr, weight_decay
                ((low, high), sampled log-uniformly; one value fixes it). Default: the config's value.

        Example:
            >>> space = SearchSpace.create(max_params=5_000_000, lr=(0.01, 0.3))
            >>> space.count(space.default)[0] <= 5_000_000
            True
        """
        config = config or TrainConfig()
        model = config.model
        rows = dimensions.DIMENSIONS
        unknown = sorted(set(given) - {d.field for d in rows})
        if unknown:
            raise UserTypeError(f"SearchSpace.create: received unknown dimensions {unknown}; accepted: "
                            f"{', '.join(d.field for d in rows)}")
        convpool = model.stage_kind == "convpool"
        stages = (len(model.blocks),) if stages is None else stages
        blocks = ((0, 1) if convpool else (1, 8)) if blocks is None else blocks
        fields = dict(
            stages=_ints("stages", stages, 1),
            blocks=_range("blocks", blocks, int, minimum=0 if convpool else 1),
            widths=_ints("widths", DEFAULT_WIDTHS if widths is None else widths, 1),
            dimension_values={d.field: d.values(given.get(d.field), config) for d in rows},
            max_params=_budget("max_params", max_params),
            max_macs=None if max_macs is None else _budget("max_macs", max_macs),
        )
        # One checking pass per architecture combination, so a bad one fails here, before the search.
        counted = [d for d in rows if d.counted]
        template = None
        for count, *combo in itertools.product(fields["stages"],
                                               *(fields["dimension_values"][d.field] for d in counted)):
            template = model.replace(blocks=(1,) * count, channels=(fields["widths"][0],) * count,
                                     input_shape=input_shape, l1=0.0, l2=0.0,
                                     **{d.setting: value for d, value in zip(counted, combo)})
        space = cls(**fields, default={}, template=template)
        space._check_smallest()
        object.__setattr__(space, "default", space._resolve_default(default, config))
        return space

    # -- counting -------------------------------------------------------------------------------
    def architecture(self, values):
        """`build_resnet` keyword arguments of the architecture that `values` describe."""
        count = values["stages"]
        arch = {"blocks": [values[f"blocks_{i}"] for i in range(1, count + 1)],
                "channels": [values[f"channels_{i}"] for i in range(1, count + 1)]}
        arch.update({d.setting: values[d.name] for d in dimensions.DIMENSIONS if d.path.startswith("model.")})
        arch.update(skip_kernel=self.template.skip_kernel, pool_size=self.template.pool_size,
                    num_classes=self.template.num_classes, input_shape=list(self.template.input_shape))
        return arch

    def count(self, values):
        """(trainable parameters, MACs) of `values`, analytically in microseconds."""
        count = values["stages"]
        spec = self.template.replace(
            blocks=tuple(values[f"blocks_{i}"] for i in range(1, count + 1)),
            channels=tuple(values[f"channels_{i}"] for i in range(1, count + 1)),
            **{d.setting: values[d.name] for d in dimensions.DIMENSIONS if d.counted})
        network = count_network(spec)
        return network.trainable, network.macs

    def violation(self, values):
        """None when `values` fit the budget, else a sentence saying by how much they do not."""
        params, macs = self.count(values)
        if params > self.max_params:
            return f"{params:,} trainable parameters > max_params {self.max_params:,}"
        if self.max_macs is not None and macs > self.max_macs:
            return f"{macs:,} MACs > max_macs {self.max_macs:,}"
        return None

    def is_feasible(self, values):
        """Whether `values` fit the parameter (and MACs) budget."""
        return self.violation(values) is None

    # -- describing -----------------------------------------------------------------------------
    def describe(self):
        """A JSON-friendly description: stored as space.json to refuse a changed resume."""
        data = {"stages": list(self.stages), "blocks": list(self.blocks), "widths": list(self.widths),
                **{field: list(values) for field, values in self.dimension_values.items()},
                "max_params": self.max_params, "max_macs": self.max_macs, "default": self.default}
        data["model_options"] = {"skip_kernel": self.template.skip_kernel, "pool_size": self.template.pool_size,
                                 "num_classes": self.template.num_classes,
                                 "input_shape": list(self.template.input_shape)}
        return data

    def open_options(self):
        """Hyperparameter names of the searched dimensions besides blocks and channels."""
        return ["stages"] * (len(self.stages) > 1) + [
            d.name for d in dimensions.DIMENSIONS if d.is_open(self.dimension_values[d.field])]

    def trial_values(self, hyperparameters):
        """A trial's values: its hyperparameters without Keras Tuner's own ("tuner/epochs"...), and each
        fixed dimension a trial of an older search lacks (its row added since) at its one value."""
        values = {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")}
        for d in dimensions.DIMENSIONS:
            if d.name not in values and not d.is_open(self.dimension_values[d.field]):
                values[d.name] = self.dimension_values[d.field][0]
        return values

    def train_config(self, values, base):
        """The TrainConfig that trains `values`: `base` with the searched settings replaced."""
        count = values["stages"]
        changes = dimensions.config_changes(values)
        changes.setdefault("model", {}).update(blocks=tuple(values[f"blocks_{i}"] for i in range(1, count + 1)),
                                               channels=tuple(values[f"channels_{i}"] for i in range(1, count + 1)))
        return base.replace(**changes)

    def smallest(self):
        """(values, params, macs) of the cheapest model in the space, by parameters."""
        counted = [d for d in dimensions.DIMENSIONS if d.counted]
        best = None
        for count, *combo in itertools.product(self.stages, *(self.dimension_values[d.field] for d in counted)):
            values = self._values([self.blocks[0]] * count, [self.widths[0]] * count,
                                  {d.name: value for d, value in zip(counted, combo)})
            params, macs = self.count(values)
            key = (not self.is_feasible(values), params, macs)
            if best is None or key < best[0]:
                best = (key, values, params, macs)
        return best[1:]

    # -- private --------------------------------------------------------------------------------
    def _values(self, blocks, channels, others):
        """Hyperparameter values: the architecture's shape, then each dimension from `others` or its first."""
        values = {"stages": len(blocks)}
        for i, (b, c) in enumerate(zip(blocks, channels), start=1):
            values[f"blocks_{i}"], values[f"channels_{i}"] = b, c
        for d in dimensions.DIMENSIONS:
            values[d.name] = others.get(d.name, self.dimension_values[d.field][0])
        return values

    def _check_smallest(self):
        values, params, macs = self.smallest()
        if self.is_feasible(values):
            return
        arch = self.architecture(values)
        raise UserError(
            f"budget: received max_params={self.max_params:,}" + (f", max_macs={self.max_macs:,}" if self.max_macs else "")
            + f", below the smallest model in the search space (blocks {arch['blocks']}, channels {arch['channels']}, "
            f"block order {arch['block_order']!r}: {params:,} trainable parameters, {macs:,} MACs); accepted: "
            f"max_params >= {params:,}" + (f" and max_macs >= {macs:,}" if self.max_macs else "")
            + ". Fix: raise --max-params/--max-macs, or open smaller --widths, --blocks or --stages")

    def _resolve_default(self, default, config):
        rows = dimensions.DIMENSIONS
        explicit = default is not None
        wanted = dict(default) if explicit else {}
        if set(wanted) - {*_SHAPE, *(d.name for d in rows)} or (explicit and not set(_SHAPE) <= set(wanted)):
            raise UserError(f"default: received {wanted}; accepted: a dict with 'blocks' and 'channels' lists and "
                             f"optionally {', '.join(d.name for d in rows)}")
        blocks = list(wanted.get("blocks", config.model.blocks))
        channels = list(wanted.get("channels", config.model.channels))
        chosen, others = {}, {}  # counted dimensions (must lie in the space), the others (moved into it)
        for d in rows:
            values = self.dimension_values[d.field]
            if d.counted and d.name in wanted:
                chosen[d.name] = d.canonical(wanted[d.name])
                continue
            value = wanted[d.name] if d.name in wanted else d.read(config, strict=False)
            value = values[0] if value is None else d.nearest(values, d.canonical(value))
            (chosen if d.counted else others)[d.name] = value
        problem = self._outside(blocks, channels, chosen)
        if problem is None:
            values = self._values(blocks, channels, {**chosen, **others})
            problem = self.violation(values)
            if problem is None:
                return values
        small, params, _ = self.smallest()
        if not explicit:  # the training config's model does not fit: start from the smallest one
            return {**small, **others}
        arch = self.architecture(small)
        raise UserError(
            f"default: received blocks {blocks}, channels {channels}: {problem}; accepted: a default inside the "
            f"search space and the budget, e.g. the smallest model blocks {arch['blocks']}, channels "
            f"{arch['channels']} ({params:,} parameters). Fix: choose a smaller default, or raise the budget")

    def _outside(self, blocks, channels, chosen):
        if len(blocks) not in self.stages or len(channels) != len(blocks):
            return f"{len(blocks)} stages, not one of {list(self.stages)}"
        if any(not self.blocks[0] <= b <= self.blocks[1] for b in blocks):
            return f"blocks outside {list(self.blocks)}"
        if any(c not in self.widths for c in channels):
            return f"channels outside the widths {list(self.widths)}"
        for d in dimensions.DIMENSIONS:
            values = self.dimension_values[d.field]
            if d.name in chosen and not d.contains(values, chosen[d.name]):
                return f"{d.name} {chosen[d.name]!r} not one of {list(values)}"
        return None
