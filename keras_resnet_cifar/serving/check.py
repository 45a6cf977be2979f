"""`check_export`: the local proof that TF Serving will accept an exported model.

It checks a version folder the way TF Serving meets it: the layout, the SavedModel
protobuf and its signatures (names, dtypes, shapes), the warmup records, then loads it
and runs both signatures, the warmup requests and a refused input.
"""
import json
import os
import re

import numpy as np
import tensorflow as tf  # check_export loads the SavedModel; its warmup records need TensorFlow anyway
from google.protobuf.message import DecodeError
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from keras_resnet_cifar.serving.export import list_versions
from keras_resnet_cifar.serving.schema import INPUT_SPECS, OUTPUT_NAMES, OUTPUTS, SIGNATURE_INPUTS, as_outputs
from keras_resnet_cifar.serving.warmup import WARMUP_FILE, read_warmup, sample_inputs
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError

# Expected (dtype, rank) per tensor, from the schema; H, W come from the signature and C from class_names.json.
_SPECS = {**INPUT_SPECS, **{name: (output.dtype, output.rank) for name, output in OUTPUTS.items()}}


class ExportCheckError(UserError):
    """An exported model that TF Serving would refuse or serve wrongly; the message names the check."""


def check_export(path, *, log=None):
    """Check `path` (saved_models/NAME, every version, or saved_models/NAME/VERSION); returns the passed checks.

    Args:
        path: a model folder holding numeric version folders, or one version folder.
        log: callable receiving each passed check's line as it passes (e.g. print). Default None.

    Raises:
        ExportCheckError: the first failed check, saying what is wrong and how to fix it.

    Example:
        for line in check_export("saved_models/resnet_cifar"): print(line)
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise UserFileNotFoundError(f"check-export: {path} is not a folder; accepted: saved_models/NAME or "
                                "saved_models/NAME/VERSION as written by `keras-resnet-cifar export`")
    lines = []

    def passed(line):
        lines.append(line)
        if log:
            log(line)

    if re.fullmatch(r"[0-9]+", os.path.basename(os.path.normpath(path))):
        folders = [path]
    else:
        found = list_versions(path)
        if not found:
            raise ExportCheckError(f"layout: {path} has no numeric version folder, so TF Serving would serve "
                                   "nothing; accepted: saved_models/NAME/1/saved_model.pb ...; run "
                                   "`keras-resnet-cifar export` or point at the right folder")
        others = sorted(p for p in os.listdir(path) if not re.fullmatch(r"[0-9]+", p) and not p.startswith("."))
        stale = sorted(p for p in os.listdir(path) if p.startswith((".export-", ".replaced-")))
        passed(f"layout: {path} holds versions {found}" + (f"; also {others} (TF Serving ignores them)" if others
               else "") + (f"; leftovers of interrupted exports {stale}: safe to delete" if stale else ""))
        folders = [os.path.join(path, str(version)) for version in found]
    for folder in folders:
        _check_version(folder, passed)
    return lines


def _fail(folder, check, message):
    raise ExportCheckError(f"{check}: {folder}: {message}")


def _check_version(folder, passed):
    variables = os.path.join(folder, "variables")
    required = ["saved_model.pb", os.path.join("variables", "variables.index"), WARMUP_FILE,
                "class_names.json", "export.json"]
    missing = [name for name in required if not os.path.isfile(os.path.join(folder, name))]
    if os.path.isdir(variables) and not any(n.startswith("variables.data-") for n in os.listdir(variables)):
        missing.append("variables/variables.data-*")
    if missing:
        _fail(folder, "layout", f"missing {missing}; re-export with `keras-resnet-cifar export --force`")
    try:
        with open(os.path.join(folder, "class_names.json"), encoding="utf-8") as handle:
            class_names = json.load(handle)
    except ValueError as error:
        _fail(folder, "layout", f"class_names.json is not JSON ({error}); re-export")
    if not isinstance(class_names, list) or not all(isinstance(name, str) for name in class_names):
        _fail(folder, "layout", "class_names.json is not a JSON list of strings; re-export")
    passed(f"layout: {folder}: saved_model.pb, variables, {WARMUP_FILE}, class_names.json, export.json")

    proto = saved_model_pb2.SavedModel()
    try:
        with open(os.path.join(folder, "saved_model.pb"), "rb") as handle:
            proto.ParseFromString(handle.read())
    except (DecodeError, RuntimeWarning) as error:
        _fail(folder, "saved_model.pb", f"corrupted, not a SavedModel protobuf ({error}); re-export with --force")
    graphs = [graph for graph in proto.meta_graphs if "serve" in graph.meta_info_def.tags]
    if not graphs:
        _fail(folder, "saved_model.pb", "no MetaGraph tagged 'serve' (TF Serving loads only that one); re-export")
    image_shape = _check_signatures(folder, graphs[0].signature_def, len(class_names))
    passed(f"signatures: {folder}: serving_default images uint8 (-1, {', '.join(map(str, image_shape))}), "
           f"serving_bytes image_bytes string (-1,) -> {', '.join(OUTPUT_NAMES)} ({len(class_names)} classes)")

    try:
        logs = read_warmup(os.path.join(folder, WARMUP_FILE))
    except ValueError as error:
        _fail(folder, "warmup", str(error))
    passed(f"warmup: {folder}: {len(logs)} PredictionLog records for "
           f"{sorted({log.predict_log.request.model_spec.signature_name for log in logs})}")
    _run_signatures(folder, image_shape, class_names, logs, passed)


def _check_signatures(folder, signature_defs, num_classes):
    """Names, dtypes and shapes of both signatures; returns the image shape (H, W, 3)."""
    image_shape = None
    for signature, input_name in SIGNATURE_INPUTS.items():
        if signature not in signature_defs:
            _fail(folder, "signatures", f"no signature {signature!r}; found {sorted(signature_defs)}; re-export")
        definition = signature_defs[signature]
        if list(definition.inputs) != [input_name] or sorted(definition.outputs) != sorted(OUTPUT_NAMES):
            _fail(folder, "signatures", f"{signature} maps {list(definition.inputs)} to {sorted(definition.outputs)};"
                  f" expected [{input_name!r}] to {sorted(OUTPUT_NAMES)}")
        tensors = {input_name: definition.inputs[input_name], **definition.outputs}
        for name, info in tensors.items():
            dtype, rank = _SPECS[name]
            shape = [dim.size for dim in info.tensor_shape.dim]
            got = types_pb2.DataType.Name(info.dtype)
            if got != dtype or len(shape) != rank or shape[0] != -1:
                _fail(folder, "signatures", f"{signature}.{name} is {got} {tuple(shape)}; expected {dtype} of rank "
                      f"{rank} with a free batch dimension (-1)")
            if name == "images":
                image_shape = tuple(shape[1:])
                if image_shape[-1] != 3 or min(image_shape) < 1:
                    _fail(folder, "signatures", f"images has shape {tuple(shape)}; expected (-1, H, W, 3)")
            if name == "probabilities" and shape[1] != num_classes:
                _fail(folder, "signatures", f"probabilities has {shape[1]} classes but class_names.json "
                      f"{num_classes}; re-export")
    return image_shape


def _run_signatures(folder, image_shape, class_names, logs, passed):
    try:
        loaded = tf.saved_model.load(folder)
    except Exception as error:  # TF raises several OpError types (DataLoss, NotFound, ...) for damage
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        _fail(folder, "load", f"TensorFlow cannot load it ({type(error).__name__}: {first}); the variables or the "
              "graph are damaged: re-export with --force")
    images, pngs = sample_inputs(image_shape, batch=3, seed=1)
    outputs = {}
    for signature, inputs in (("serving_default", images), ("serving_bytes", pngs)):
        try:
            result = loaded.signatures[signature](**{SIGNATURE_INPUTS[signature]: tf.constant(inputs)})
        except Exception as error:
            _fail(folder, "run", f"{signature} failed on {len(inputs)} sample inputs: {str(error).splitlines()[0]}")
        outputs[signature] = as_outputs({name: value.numpy() for name, value in result.items()})
        probabilities, ids, names = (outputs[signature][name] for name in OUTPUT_NAMES)
        if probabilities.shape != (len(inputs), len(class_names)) or not np.all(np.isfinite(probabilities)) \
                or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
            _fail(folder, "run", f"{signature} gave probabilities of shape {probabilities.shape} that are not finite "
                  "rows summing to 1")
        if not np.array_equal(ids, probabilities.argmax(axis=1)) or names != [class_names[i] for i in ids]:
            _fail(folder, "run", f"{signature}'s class_ids/class_names disagree with its probabilities")
    gap = np.abs(outputs["serving_default"]["probabilities"] - outputs["serving_bytes"]["probabilities"]).max()
    if gap > 1e-5:
        _fail(folder, "run", f"serving_bytes on PNGs differs from serving_default on the same pixels by {gap:.2e}")
    passed(f"run: {folder}: both signatures agree on {len(images)} sample images (max gap {gap:.1e})")

    for index, log in enumerate(logs):
        request = log.predict_log.request
        feed = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
        try:
            loaded.signatures[request.model_spec.signature_name](**{k: tf.constant(v) for k, v in feed.items()})
        except Exception as error:
            _fail(folder, "warmup", f"record {index} fails to run: {str(error).splitlines()[0]}; re-export")
    wrong = tf.io.encode_png(np.zeros((image_shape[0] + 1, image_shape[1], 3), np.uint8)).numpy()
    try:
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([wrong]))
    except tf.errors.InvalidArgumentError:
        passed(f"run: {folder}: the {len(logs)} warmup requests run; a wrongly sized image is refused")
    else:
        _fail(folder, "run", "serving_bytes accepted a wrongly sized image instead of refusing it")
