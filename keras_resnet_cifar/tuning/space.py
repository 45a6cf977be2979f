"""The search space as data, and its budget check (analytic: no model is built).

Every dimension is a tuple of values: one value fixes it, several open it. Blocks
per stage, the learning rate and the weight decay are ranges `(low, high)`
instead (equal ends fix them). Dimensions left out take the training config's
value, fixed. Hyperparameter names: `stages`, `blocks_1`.., `channels_1`..,
`kernel_size`, `block_order`, `activation`, `optimizer`, `lr`, `weight_decay`,
`mixup_alpha`; stage i's two are active only when `stages >= i`.
"""
import dataclasses
import itertools
import numbers

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.spec import ResNetSpec, resolve_activation, resolve_block_order
from keras_resnet_cifar.tuning.dimensions import (budget as _budget, choices as _choices, floats as _floats,
                                                  ints as _ints, optimizer as _optimizer, value_range as _range)

DEFAULT_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A validated search space with its budget; build it with `SearchSpace.create`."""

    stages: tuple
    blocks: tuple  # (low, high) residual units per stage
    widths: tuple
    kernel_sizes: tuple
    block_orders: tuple
    activations: tuple
    optimizers: tuple
    lr: tuple  # (low, high), log-uniform
    weight_decay: tuple  # (low, high), log-uniform
    mixup_alpha: tuple
    max_params: int
    max_macs: int | None
    default: dict  # hyperparameter name -> value; always within the budget
    template: ResNetSpec  # the fixed builder options (skip kernel, pool, classes, input)

    @classmethod
    def create(cls, config=None, *, stages=None, blocks=None, widths=DEFAULT_WIDTHS, kernel_sizes=None,
               block_orders=None, activations=None, optimizers=None, lr=None, weight_decay=None,
               mixup_alpha=None, max_params=5_000_000, max_macs=None, default=None, input_shape=(32, 32, 3)):
        """Validate a space and its budget; dimensions left as None are fixed at `config`'s value.

        Args:
            config: TrainConfig giving the fixed settings. Default TrainConfig() (ResNet24, SGDN).
            stages: numbers of stages to try. Default: the config's model's.
            blocks: (low, high) residual units per stage. Default (1, 8), or (0, 1) for conv-pool
                stages (`stage_kind` "convpool", e.g. the fast recipe: residual units after each group).
            widths: channel widths each stage may take. Default DEFAULT_WIDTHS.
            kernel_sizes, block_orders, activations, optimizers, mixup_alpha: choices.
            lr, weight_decay: (low, high), sampled log-uniformly; one value fixes it.
            max_params: trainable-parameter budget. Default 5,000,000.
            max_macs: optional multiply-accumulate budget per image. Default None.
            default: dict with "blocks" and "channels" (and optionally other names) for the
                hypermodel's default; it must lie in the space and the budget. Default None: the
                config's model if it does, else the smallest model.
            input_shape: image shape. Default (32, 32, 3).

        Example:
            >>> space = SearchSpace.create(max_params=5_000_000)
            >>> space.count(space.default)[0] <= 5_000_000
            True
        """
        config = config or TrainConfig()
        model, optim = config.model, config.optim
        convpool = model.stage_kind == "convpool"
        stages = (len(model.blocks),) if stages is None else stages
        blocks = ((0, 1) if convpool else (1, 8)) if blocks is None else blocks
        kernel = model.kernel_size
        if not isinstance(kernel, numbers.Integral):
            if len(set(kernel)) != 1:
                raise ValueError(f"kernel_size: received per-stage {list(kernel)} in the training config; accepted: "
                                 "one kernel size for all stages when tuning (pass kernel_sizes=(3, 5) to search it)")
            kernel = kernel[0]
        fields = dict(
            stages=_ints("stages", stages, 1),
            blocks=_range("blocks", blocks, int, minimum=0 if convpool else 1),
            widths=_ints("widths", widths, 1),
            kernel_sizes=_ints("kernel_sizes", kernel_sizes or (kernel,), 1),
            block_orders=_choices("block_orders", block_orders or (model.block_order,), resolve_block_order),
            activations=_choices("activations", activations or (model.activation,),
                                 lambda a: resolve_activation(a)[0]),
            optimizers=_choices("optimizers", optimizers or (optim.optimizer,), _optimizer),
            lr=_range("lr", lr if lr is not None else optim.lr, float, positive=True),
            weight_decay=_range("weight_decay", weight_decay if weight_decay is not None else optim.weight_decay,
                                float, positive=True),
            mixup_alpha=_floats("mixup_alpha", mixup_alpha if mixup_alpha is not None else config.data.augment.mixup_alpha),
            max_params=_budget("max_params", max_params),
            max_macs=None if max_macs is None else _budget("max_macs", max_macs),
        )
        # One checking pass per architecture combination, so a bad one fails here, before the search.
        template = None
        for count, k, order in itertools.product(fields["stages"], fields["kernel_sizes"], fields["block_orders"]):
            template = model.replace(blocks=(1,) * count, channels=(fields["widths"][0],) * count, kernel_size=k,
                                     block_order=order, input_shape=input_shape, l1=0.0, l2=0.0)
        space = cls(**fields, default={}, template=template)
        space._check_smallest()
        object.__setattr__(space, "default", space._resolve_default(default, config, kernel))
        return space

    # -- counting -------------------------------------------------------------------------------
    def architecture(self, values):
        """`build_resnet` keyword arguments of the architecture that `values` describe."""
        count = values["stages"]
        return {
            "blocks": [values[f"blocks_{i}"] for i in range(1, count + 1)],
            "channels": [values[f"channels_{i}"] for i in range(1, count + 1)],
            "kernel_size": values["kernel_size"], "skip_kernel": self.template.skip_kernel,
            "pool_size": self.template.pool_size, "block_order": values["block_order"],
            "activation": values["activation"], "num_classes": self.template.num_classes,
            "input_shape": list(self.template.input_shape),
        }

    def count(self, values):
        """(trainable parameters, MACs) of `values`, analytically in microseconds."""
        count = values["stages"]
        spec = dataclasses.replace(
            self.template,
            blocks=tuple(values[f"blocks_{i}"] for i in range(1, count + 1)),
            channels=tuple(values[f"channels_{i}"] for i in range(1, count + 1)),
            kernel_size=(values["kernel_size"],) * count,
            block_order=values["block_order"],
        )
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
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "template"}
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        data["model_options"] = {"skip_kernel": self.template.skip_kernel, "pool_size": self.template.pool_size,
                                 "num_classes": self.template.num_classes,
                                 "input_shape": list(self.template.input_shape)}
        return data

    def open_options(self):
        """Hyperparameter names of the searched dimensions besides blocks and channels."""
        fields = (("stages", "stages"), ("kernel_sizes", "kernel_size"), ("block_orders", "block_order"),
                  ("activations", "activation"), ("optimizers", "optimizer"), ("lr", "lr"),
                  ("weight_decay", "weight_decay"), ("mixup_alpha", "mixup_alpha"))
        return [name for field, name in fields if len(set(getattr(self, field))) > 1]

    def train_config(self, values, base):
        """The TrainConfig that trains `values`: `base` with the searched settings replaced."""
        arch = self.architecture(values)
        return base.replace(
            model={"blocks": tuple(arch["blocks"]), "channels": tuple(arch["channels"]),
                   "kernel_size": arch["kernel_size"], "block_order": arch["block_order"],
                   "activation": arch["activation"]},
            optim={"optimizer": values["optimizer"], "lr": float(values["lr"]),
                   "weight_decay": float(values["weight_decay"])},
            data={"augment": {"mixup_alpha": float(values["mixup_alpha"])}},
        )

    def smallest(self):
        """(values, params, macs) of the cheapest model in the space, by parameters."""
        best = None
        for count, k, order in itertools.product(self.stages, self.kernel_sizes, self.block_orders):
            values = self._values(count, [self.blocks[0]] * count, [self.widths[0]] * count, k, order, {})
            params, macs = self.count(values)
            feasible = self.is_feasible(values)
            key = (not feasible, params, macs)
            if best is None or key < best[0]:
                best = (key, values, params, macs)
        return best[1:]

    # -- private --------------------------------------------------------------------------------
    def _values(self, count, blocks, channels, kernel, order, others):
        values = {"stages": count, "kernel_size": kernel, "block_order": order}
        for i, (b, c) in enumerate(zip(blocks, channels), start=1):
            values[f"blocks_{i}"], values[f"channels_{i}"] = b, c
        values["activation"] = others.get("activation", self.activations[0])
        values["optimizer"] = others.get("optimizer", self.optimizers[0])
        values["lr"] = others.get("lr", self.lr[0])
        values["weight_decay"] = others.get("weight_decay", self.weight_decay[0])
        values["mixup_alpha"] = others.get("mixup_alpha", self.mixup_alpha[0])
        return values

    def _check_smallest(self):
        values, params, macs = self.smallest()
        if self.is_feasible(values):
            return
        arch = self.architecture(values)
        raise ValueError(
            f"budget: received max_params={self.max_params:,}" + (f", max_macs={self.max_macs:,}" if self.max_macs else "")
            + f", below the smallest model in the search space (blocks {arch['blocks']}, channels {arch['channels']}, "
            f"block order {arch['block_order']!r}: {params:,} trainable parameters, {macs:,} MACs); accepted: "
            f"max_params >= {params:,}" + (f" and max_macs >= {macs:,}" if self.max_macs else "")
            + ". Fix: raise --max-params/--max-macs, or open smaller --widths, --blocks or --stages")

    def _resolve_default(self, default, config, kernel):
        def preferred(choices, value):
            return value if value in choices else choices[0]

        def clip(bounds, value):
            return min(max(float(value), bounds[0]), bounds[1])

        explicit = default is not None
        wanted = dict(default) if explicit else {}
        unknown = set(wanted) - {"blocks", "channels", "kernel_size", "block_order", "activation", "optimizer",
                                 "lr", "weight_decay", "mixup_alpha"}
        if unknown or (explicit and not {"blocks", "channels"} <= set(wanted)):
            raise ValueError(f"default: received {wanted}; accepted: a dict with 'blocks' and 'channels' lists and "
                             "optionally kernel_size, block_order, activation, optimizer, lr, weight_decay, mixup_alpha")
        blocks = list(wanted.get("blocks", config.model.blocks))
        channels = list(wanted.get("channels", config.model.channels))
        kernel = wanted.get("kernel_size", preferred(self.kernel_sizes, kernel))
        order = wanted.get("block_order", preferred(self.block_orders, resolve_block_order(config.model.block_order)))
        others = {
            "activation": preferred(self.activations, resolve_activation(
                wanted.get("activation", config.model.activation))[0]),
            "optimizer": preferred(self.optimizers, wanted.get("optimizer", config.optim.optimizer)),
            "lr": clip(self.lr, wanted.get("lr", config.optim.lr)),
            "weight_decay": clip(self.weight_decay, wanted.get("weight_decay", config.optim.weight_decay)),
            "mixup_alpha": preferred(self.mixup_alpha, float(wanted.get("mixup_alpha", config.data.augment.mixup_alpha))),
        }
        problem = self._outside(blocks, channels, kernel, resolve_block_order(order))
        if problem is None:
            values = self._values(len(blocks), blocks, channels, kernel, resolve_block_order(order), others)
            problem = self.violation(values)
            if problem is None:
                return values
        small, params, _ = self.smallest()
        if not explicit:  # the training config's model does not fit: start from the smallest one
            return {**small, **others}
        arch = self.architecture(small)
        raise ValueError(
            f"default: received blocks {blocks}, channels {channels}: {problem}; accepted: a default inside the "
            f"search space and the budget, e.g. the smallest model blocks {arch['blocks']}, channels "
            f"{arch['channels']} ({params:,} parameters). Fix: choose a smaller default, or raise the budget")

    def _outside(self, blocks, channels, kernel, order):
        if len(blocks) not in self.stages or len(channels) != len(blocks):
            return f"{len(blocks)} stages, not one of {list(self.stages)}"
        if any(not self.blocks[0] <= b <= self.blocks[1] for b in blocks):
            return f"blocks outside {list(self.blocks)}"
        if any(c not in self.widths for c in channels):
            return f"channels outside the widths {list(self.widths)}"
        if kernel not in self.kernel_sizes:
            return f"kernel_size {kernel} not one of {list(self.kernel_sizes)}"
        if order not in self.block_orders:
            return f"block_order {order!r} not one of {list(self.block_orders)}"
        return None
