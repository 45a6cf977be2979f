"""TF Serving warmup records: `assets.extra/tf_serving_warmup_requests` inside a SavedModel version.

TF Serving replays these requests when it loads a version, before it routes traffic to
it, so the first real request does not pay for graph initialization. The file is a
TFRecord of `tensorflow.serving.PredictionLog` protos, one per request, built with the
core install's protobuf (`protos.py`): tensorflow-serving-api is not needed.
"""
import os

import numpy as np
import tensorflow as tf

from keras_resnet_cifar.files import atomic_save
from keras_resnet_cifar.serving.client import fill_predict_request
from keras_resnet_cifar.serving.schema import SIGNATURE_INPUTS
from keras_resnet_cifar.serving.protos import PredictionLog
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# One request per signature and batch size; TF Serving allows up to 1000 records.
_WARMUP_BATCHES = (1, 8)


def sample_inputs(image_shape, batch=2, seed=0):
    """Seeded random uint8 images of `image_shape` (H, W, 3) and their PNG encodings.

    Example:
        images, pngs = sample_inputs((32, 32, 3), batch=4)
    """
    images = np.random.default_rng(seed).integers(0, 256, (batch, *image_shape), dtype=np.uint8)
    return images, [tf.io.encode_png(image).numpy() for image in images]


def write_warmup(version_dir, model_name, image_shape, *, seed=0):
    """Write the warmup file into `version_dir` (a SavedModel folder); returns its path.

    Args:
        version_dir: the SavedModel folder (its final or temporary name).
        model_name: the served model name, recorded in each request's model_spec.
        image_shape: (H, W, 3) of the model's input.
        seed: int, seeds the sample images. Default 0.

    Example:
        write_warmup("saved_models/resnet_cifar/1", "resnet_cifar", (32, 32, 3))
    """
    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)

    def save(temp):
        with tf.io.TFRecordWriter(temp) as writer:
            for batch in _WARMUP_BATCHES:
                images, pngs = sample_inputs(image_shape, batch, seed)
                for signature, inputs in (("serving_default", images), ("serving_bytes", pngs)):
                    log = PredictionLog()
                    fill_predict_request(log.predict_log.request, inputs, model_name, signature=signature)
                    writer.write(log.SerializeToString())
    atomic_save(path, save)  # rewriting a version's records keeps the old ones until the new are complete
    return path


def read_warmup(path):
    """Parse a warmup file into `PredictionLog` protos; a damaged file raises a clear ValueError.

    Example:
        [log.predict_log.request.model_spec.signature_name for log in read_warmup(path)]
    """
    from google.protobuf.message import DecodeError

    if not os.path.isfile(path):
        raise UserFileNotFoundError(f"warmup: no file {path}; `keras-resnet-cifar export` writes it, re-export the model")
    logs = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            log = PredictionLog.FromString(record)
            if not log.HasField("predict_log"):
                raise UserError(f"record {index} is not a predict_log")
            request = log.predict_log.request
            expected = SIGNATURE_INPUTS.get(request.model_spec.signature_name)
            if expected is None or list(request.inputs) != [expected]:
                raise UserError(f"record {index} asks signature {request.model_spec.signature_name!r} with inputs "
                                 f"{list(request.inputs)}; accepted: {SIGNATURE_INPUTS}")
            logs.append(log)
    except (tf.errors.OpError, DecodeError, ValueError) as error:
        message = error.message if isinstance(error, tf.errors.OpError) else str(error)
        raise UserError(f"warmup: {path} is damaged ({message.splitlines()[0]}); re-export the model") from None
    if not logs:
        raise UserError(f"warmup: {path} holds no records; re-export the model")
    return logs
