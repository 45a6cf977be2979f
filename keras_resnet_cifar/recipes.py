"""Named training recipes, as data: overrides of a `TrainConfig`, one set per time budget.

    config = recipe_config("fast", minutes=15)  # then train(config, "runs/fast15")

"fast" trains on all 50,000 training images for a fixed number of epochs (no validation
split, so nothing is chosen on held-out data; the last epoch is the model) and fits its
budget, training plus test evaluation, on a 2-core CPU with AVX512_BF16 (benchmarks/RESULTS.md).
It is the CIFAR-10 time-to-accuracy records' recipe (KellerJordan/cifar10-airbench, arXiv
2404.00498) expressed as `TrainConfig` fields, in mixed bfloat16: the airbench94 network
(whitening stem, conv-pool groups 64-256-256, 1.97M parameters) for the 15-minute tier,
airbench93's 64-128-128 for a 5-minute tier (ablations, tuner trials), airbench94_muon's training of the
airbench94 network (the conv-aware Muon, `training/optimizers.ConvMuon`) in 8 epochs for the 10-minute tier,
and airbench95's training (widths 128-384-384) in 18 epochs for the 60-minute tier.

What differs from airbench, on purpose: Keras's mean loss (the decoupled lr is converted, see
`OptimConfig.lr_factor`), whole epochs, and the lookahead also updating at each epoch's end
(so a resumed run is exact without storing the average).
"""
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.errors import UserError

# The record holders' network (KellerJordan/cifar10-airbench): a frozen 2x2 patch-whitening stem, GELU, three
# conv-pool groups with BN without a learned scale (momentum 0.6 in Keras's convention, eps 1e-12), a 3x3
# max-pool head without bias scaled by 1/9, identity-initialised convolutions.
_AIRBENCH_MODEL = {
    "stem": "whiten", "stage_kind": "convpool", "blocks": (0, 0, 0), "activation": "gelu", "bn_scale": False,
    "bn_momentum": 0.6, "bn_epsilon": 1e-12, "head": "maxpool", "pool_size": 3, "head_bias": False,
    "output_scale": 1 / 9, "conv_init": "dirac", "zero_init_residual": False, "block_order": "a",
}
# Its training: batch 1024, Nesterov SGD in the decoupled form (lr 11.5 and weight decay 0.0153 per 1024
# examples), BN offsets at 64x the rate, the whitening bias trained for 3 epochs, label smoothing 0.2, the
# triangular schedule, translation by 2 pixels with reflect padding, alternating flips, lookahead every 5
# steps, and test-time augmentation with mirror and 1-pixel translations.
_FAST_COMMON = {
    "model": _AIRBENCH_MODEL,
    "data": {"val_fraction": 0.0, "tta": True, "tta_translate": 1,
             "augment": {"crop": True, "pad": 2, "pad_mode": "reflect", "hflip": True, "alternate_flip": True}},
    "optim": {"optimizer": "sgdn", "momentum": 0.85, "reference_batch": 1024, "lr": 11.5, "weight_decay": 0.0153,
              "bn_bias_lr_scale": 64.0, "whiten_bias_epochs": 3, "schedule": "triangular", "batch_size": 1024,
              "label_smoothing": 0.2, "lookahead_every": 5, "ema_momentum": 0.0, "warmup_epochs": 0},
    "mixed_precision": "bf16",
    "histogram_freq": 0,
}


# airbench94_muon's training (94.01% in 8 epochs on an A100, n=200): Muon on the conv filters (lr 0.24, momentum
# 0.6, 3 Newton-Schulz steps, each filter renormalised) and Nesterov SGD at momentum 0.85 on the rest, batch 2000,
# a linear decay to 0 from the first step, no lookahead. Its PyTorch rates (head 0.67, BN offsets 0.053, decay
# 2e-6 x batch per step, on a summed loss and a head scaled by 1/256) in this package's terms (mean loss, head
# scaled by 1/9, rates per 1024 examples): lr 6.5 (6.5 x 2000 / (1024 x (1 + 1 / 0.15)) = 1.66 = 0.67 x 2000 x
# (9 / 256)^2 in Keras), BN offsets at 64x (0.053 x 2000 = 106 = 64 x 1.66), weight decay 0.0157 (0.004 a step).
_MUON_OPTIM = {**_FAST_COMMON["optim"], "optimizer": "muon", "muon_lr": 0.24, "muon_momentum": 0.6,
               "muon_ns_steps": 3, "lr": 6.5, "weight_decay": 0.0157, "batch_size": 2000, "schedule": "onecycle",
               "lookahead_every": 0}


# airbench95's training (95.01% in 15 epochs on an A100, n=200): airbench94's at widths 128-384-384 (4.6M
# parameters, under the study's 5M) and lr 10.0 per 1024 examples. Its 15 epochs took 35 minutes here (94.92%,
# seed 0, benchmarks/RESULTS.md): the 60-minute tier trains 18.
_AIRBENCH95_OPTIM = {**_FAST_COMMON["optim"], "lr": 10.0}


def _tier(channels, epochs, optim=None):
    return {**_FAST_COMMON, "model": {**_AIRBENCH_MODEL, "channels": channels},
            "optim": {**(optim or _FAST_COMMON["optim"]), "epochs": epochs}}


# Epochs from training throughput in mixed bfloat16 on the 2-core AVX512_BF16 machine, quiet
# (benchmarks/RESULTS.md), each tier leaving room for loading, tracing and the test evaluation (6 views
# with TTA). The 10-minute tier: airbench94_muon's 8 epochs, 94.09% on official CIFAR-10, measured at
# 11.0-12.1 minutes there, then 8.4 minutes (seed 0) with the package's XLA GELU. A 2-vCPU AMD EPYC Zen 4
# has 0.44x that machine's bf16 peak: every tier takes about 1.85x its minutes there.
RECIPES = {
    "fast": {
        5: _tier((64, 128, 128), 4),
        10: _tier((64, 256, 256), 8, _MUON_OPTIM),
        15: _tier((64, 256, 256), 10),
        60: _tier((128, 384, 384), 18, _AIRBENCH95_OPTIM),
    },
}


def recipe_config(name, minutes=15, base=None):
    """The `TrainConfig` of recipe `name` for a budget of `minutes`, on top of `base`.

    Args:
        name: a key of `RECIPES`, e.g. "fast".
        minutes: one of the recipe's budgets, e.g. 15 or 60.
        base: a `TrainConfig` whose other fields are kept (data source, seed, verbosity...);
            default `TrainConfig()`.

    Returns:
        A `TrainConfig` that `train()` accepts.

    Example:
        >>> recipe_config("fast", 60).optim.epochs
        18
    """
    if name not in RECIPES:
        raise UserError(f"recipe: received {name!r}; accepted: {', '.join(sorted(RECIPES))}")
    tiers = RECIPES[name]
    if minutes not in tiers:
        raise UserError(f"minutes: received {minutes!r} for recipe {name!r}; accepted: "
                         f"{', '.join(str(m) for m in sorted(tiers))}")
    return (base if base is not None else TrainConfig()).replace(**tiers[minutes])
