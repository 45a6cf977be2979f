"""Checks of a `TrainConfig` against the data it will train on, before any training.

The config checks itself on construction (config.py); what needs the data is checked here.
Every error says what was received, what is accepted, and the flag that sets it.
"""

from keras_resnet_cifar.errors import UserError


def check_data(config, data, replicas=1):
    """Raise ValueError when `config` cannot train on `data` (batch, classes, validation split)."""
    o = config.optim
    num_train, num_val = len(data.train.labels), len(data.val.labels)
    if o.batch_size > num_train:
        raise UserError(f"batch_size: received {o.batch_size} but the training split has {num_train} images; "
                         f"accepted: at most {num_train} (lower --batch-size or raise --train-subset)")
    if o.batch_size % replicas:
        raise UserError(f"batch_size: received {o.batch_size} for {replicas} replicas; accepted: a global batch "
                         f"divisible by {replicas} so each replica gets the same share (--batch-size)")
    if config.model.num_classes != data.num_classes:
        raise UserError(f"num_classes: the model has {config.model.num_classes} outputs but the data has "
                         f"{data.num_classes} classes; pass --num-classes {data.num_classes}")
    if tuple(data.train.images.shape[1:]) != tuple(config.model.input_shape):
        raise UserError(f"images: received shape {tuple(data.train.images.shape[1:])}; accepted: "
                         f"{tuple(config.model.input_shape)}, the model's input_shape (resize the data, --resize, "
                         "or pass --input-shape)")
    needs_val = [name for name, used in (("the plateau schedule", o.schedule == "plateau"),
                                         ("early stopping", o.early_stopping_patience is not None)) if used]
    if needs_val and num_val == 0:
        raise UserError(f"{' and '.join(needs_val)} need a validation split but val_fraction is 0; "
                         "pass --val-fraction 0.1 or another schedule")
