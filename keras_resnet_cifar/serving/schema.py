"""The served model's interface, written once: its default name, each signature's input, and the outputs
(name, SignatureDef dtype, rank, what a client returns), read by the signatures (signatures.py), the REST
and gRPC clients (client.py), the warmup records (warmup.py) and `check_export` (check.py). No TensorFlow.
"""
import dataclasses

import numpy as np

DEFAULT_MODEL_NAME = "resnet_cifar"
SIGNATURE_INPUTS = {"serving_default": "images", "serving_bytes": "image_bytes"}  # signature -> its one input
INPUT_SPECS = {"images": ("DT_UINT8", 4), "image_bytes": ("DT_STRING", 1)}  # input -> (dtype, rank)


@dataclasses.dataclass(frozen=True)
class Output:
    """One output of both signatures: its SignatureDef dtype and rank, and the NumPy type clients return
    (`str`: a list of text, decoded from UTF-8)."""

    dtype: str
    rank: int
    numpy: type
    meaning: str


OUTPUTS = {
    "probabilities": Output("DT_FLOAT", 2, np.float32, "(N, classes): the softmax of the model's logits"),
    "class_ids": Output("DT_INT64", 1, np.int64, "(N,): the most probable class of each image"),
    "class_names": Output("DT_STRING", 1, str, "(N,): that class's name"),
}
OUTPUT_NAMES = tuple(OUTPUTS)


def missing_outputs(received):
    """The output names absent from `received` (any container of names), in schema order."""
    return [name for name in OUTPUT_NAMES if name not in received]


def as_outputs(values):
    """{output: value} as every client returns it: NumPy arrays of the schema's types, names as str.

    Args:
        values: {output name: array-like} holding every output (e.g. a REST response's columns, a gRPC
            response's tensors, a loaded signature's results as NumPy).

    Example:
        >>> as_outputs({"probabilities": [[0.2, 0.8]], "class_ids": [1], "class_names": [b"dog"]})["class_names"]
        ['dog']
    """
    result = {}
    for name, output in OUTPUTS.items():
        value = values[name]
        if output.numpy is str:
            result[name] = [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in value]
        else:
            result[name] = np.asarray(value, dtype=output.numpy)
    return result
