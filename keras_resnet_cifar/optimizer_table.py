"""The optimizers a run may use, one row each: the config's accepted names, the Keras class that
`training.optimizers.make_optimizer` builds, and the state it keeps per weight (the memory estimate).

Adding an optimizer is one row here (and its test); the config, the search space, the builder and
the memory estimate read this table. No Keras here: the config checks names without importing it.
"""
import dataclasses
from keras_resnet_cifar.errors import UserError


PACKAGE_OPTIMIZERS = "keras_resnet_cifar.training.optimizers"  # the module of the package's own optimizer classes


@dataclasses.dataclass(frozen=True)
class OptimizerKind:
    """One optimizer: how it is built and what it keeps.

    Args:
        keras_class: the class in `module`.
        options: constructor keywords, PyTorch's defaults where Keras's differ (so `--lr` means what it
            meant in the study).
        slots: variables the optimizer keeps per weight (a momentum slot only while momentum > 0).
        momentum: whether it takes `OptimConfig.momentum` (and may use parameter groups, `GroupSGD`).
        decoupled: whether its weight decay is always in the optimizer (w -= lr * wd * w).
        description: one line for docs/training.md's table and --help.
        module: where `keras_class` lives: Keras's optimizers, or this package's (training/optimizers.py).
    """

    keras_class: str
    options: dict
    slots: int
    momentum: bool = False
    decoupled: bool = False
    description: str = ""
    module: str = "keras.optimizers"


OPTIMIZER_TABLE = {
    "sgd": OptimizerKind("SGD", {"nesterov": False}, 1, momentum=True, description="SGD with momentum"),
    "sgdn": OptimizerKind("SGD", {"nesterov": True}, 1, momentum=True,
                          description="SGD with Nesterov momentum (the study's)"),
    "adagrad": OptimizerKind("Adagrad", {"initial_accumulator_value": 0.0, "epsilon": 1e-10}, 1,
                             description="Adagrad, PyTorch's accumulator and epsilon"),
    "adadelta": OptimizerKind("Adadelta", {"rho": 0.9, "epsilon": 1e-6}, 2,
                              description="Adadelta, PyTorch's rho and epsilon"),
    "adam": OptimizerKind("Adam", {"epsilon": 1e-8}, 2, description="Adam"),
    "adamw": OptimizerKind("AdamW", {"epsilon": 1e-8}, 2, decoupled=True, description="Adam, decoupled weight decay"),
    "muon": OptimizerKind("ConvMuon", {"nesterov": True}, 1, momentum=True, module=PACKAGE_OPTIMIZERS,
                          description="Muon on conv kernels (each flattened to a matrix and orthogonalised by "
                                      "Newton-Schulz, airbench94_muon's), sgdn with its groups on the rest"),
}
OPTIMIZERS = tuple(OPTIMIZER_TABLE)  # the accepted names, in the table's order
MOMENTUM_OPTIMIZERS = tuple(name for name, kind in OPTIMIZER_TABLE.items() if kind.momentum)


def slots(name, momentum=0.9):
    """Variables optimizer `name` keeps per weight at `momentum`, e.g. `slots("adam") == 2`.

    Example:
        >>> slots("sgdn"), slots("sgd", momentum=0.0)
        (1, 0)
    """
    if name not in OPTIMIZER_TABLE:  # a public function: the name may not come through OptimConfig
        raise UserError(f"optimizer: received {name!r}; accepted: {', '.join(OPTIMIZERS)}")
    kind = OPTIMIZER_TABLE[name]
    return 0 if kind.momentum and not momentum else kind.slots


def optimizer_markdown():
    """The Markdown table of `OPTIMIZER_TABLE` that docs/training.md shows (a test keeps the two equal)."""
    rows = [f"| {name} | {kind.description} | `{kind.module}.{kind.keras_class}` | "
            f"{', '.join(f'{k}={v}' for k, v in kind.options.items())} | {kind.slots}"
            f"{' (0 at momentum 0)' if kind.momentum else ''} |"
            for name, kind in OPTIMIZER_TABLE.items()]
    return "\n".join(["| --optimizer | what | Keras class | options | slots per weight |", "|---|---|---|---|---|",
                      *rows])
