"""Bad inputs to an exported model and to export / check-export / predict (issue 13, items 1, 5, 8).

Signatures are called from a fresh process that imports TensorFlow only, both as
`tf.saved_model.load` callers do and with a raw feed, as TF Serving's C++ session does.
Commands run in subprocesses: each must exit 2 with one message naming the problem, no
traceback, and leave an earlier good export byte-identical.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from export_helpers import encode, rest_double, run_python, shared_export
from file_helpers import snapshot


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return shared_export(tmp_path_factory)


ACCEPTED_IMAGES = r"accepted: uint8 \[N, 32, 32, 3\] with N >= 1"
NOT_AN_IMAGE = r"is not an image file: received {} bytes, starting <{}>; accepted: the bytes of a PNG, JPEG, GIF, BMP or WebP"

# (case, signature, input as a Python expression over np, PNG and base64, expected message)
SIGNATURE_CASES = [
    ("empty batch", "serving_default", "np.zeros((0, 32, 32, 3), np.uint8)",
     rf"images: received shape \[0 32 32 3\]; {ACCEPTED_IMAGES}"),
    ("no batch axis", "serving_default", "np.zeros((32, 32, 3), np.uint8)",
     rf"images: received shape \[32 32 3\]; {ACCEPTED_IMAGES}.*\[32, 32, 3\] -> \[1, 32, 32, 3\]"),
    ("an extra axis", "serving_default", "np.zeros((1, 1, 32, 32, 3), np.uint8)",
     rf"images: received shape \[1 1 32 32 3\]; {ACCEPTED_IMAGES}"),
    ("a trailing axis", "serving_default", "np.zeros((1, 32, 32, 3, 1), np.uint8)",
     rf"images: received shape \[1 32 32 3 1\]; {ACCEPTED_IMAGES}"),
    ("a scalar", "serving_default", "np.uint8(7)", rf"images: received shape \[\]; {ACCEPTED_IMAGES}"),
    ("wrong size", "serving_default", "np.zeros((2, 28, 32, 3), np.uint8)",
     rf"images: received shape \[2 28 32 3\]; {ACCEPTED_IMAGES}"),
    ("no files", "serving_bytes", "np.array([], object)",
     r"image_bytes: received shape \[0\]; accepted: string \[N\] with N >= 1"),
    ("one file without batch axis", "serving_bytes", "np.array(PNG, object)",
     r"image_bytes: received shape \[\]; accepted: string \[N\] with N >= 1.*one file is \[1\]"),
    ("files as a matrix", "serving_bytes", "np.array([[PNG]], object)",
     r"image_bytes: received shape \[1 1\]; accepted: string \[N\] with N >= 1"),
    ("text after a good file", "serving_bytes", "np.array([PNG, b'hello world'], object)",
     r"image_bytes\[1\] " + NOT_AN_IMAGE.format(11, "hello world")),
    ("a file name, not its bytes", "serving_bytes", "np.array([b'cat.png'], object)",
     r"image_bytes\[0\] " + NOT_AN_IMAGE.format(7, r"cat\.png")),
    ("base64 text sent as bytes", "serving_bytes", "np.array([base64.b64encode(PNG)], object)",
     r"image_bytes\[0\] " + NOT_AN_IMAGE.format(r"\d+", "iVBORw0KGgoA")),
    ("binary, not an image", "serving_bytes", "np.array([bytes(range(250, 256)) + b'x'], object)",
     r"image_bytes\[0\] " + NOT_AN_IMAGE.format(7, r"\?\?\?\?\?\?x")),
    ("empty string", "serving_bytes", "np.array([b''], object)", r"image_bytes\[0\] " + NOT_AN_IMAGE.format(0, "")),
]

_CALL_SIGNATURES = r"""
import base64, json, sys
sys.modules["keras_resnet_cifar"] = sys.modules["keras"] = None  # plain TensorFlow: neither can be imported
import numpy as np, tensorflow as tf
from tensorflow.core.protobuf import config_pb2
folder, PNG, cases = sys.argv[1], open(sys.argv[2], "rb").read(), json.loads(sys.argv[3])
loaded = tf.saved_model.load(folder)
graph = tf.Graph()
session = tf.compat.v1.Session(graph=graph)
with graph.as_default():
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], folder)
results = {}
for case, signature, expression in cases:
    value = eval(expression)
    name = {"serving_default": "images", "serving_bytes": "image_bytes"}[signature]
    dtype = tf.uint8 if signature == "serving_default" else tf.string
    definition = meta.signature_def[signature]
    options = config_pb2.CallableOptions(feed=[definition.inputs[name].name],
                                         fetch=[definition.outputs["probabilities"].name])
    raw_feed = session._make_callable_from_options(options)  # unchecked, as TF Serving feeds the graph
    messages = []
    for call in (lambda: loaded.signatures[signature](**{name: tf.constant(value, dtype)}), lambda: raw_feed(value)):
        try:
            call()
            messages.append("accepted")
        except tf.errors.InvalidArgumentError as error:
            messages.append(error.message)
    results[case] = messages
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def signature_results(shared, tmp_path_factory):
    """Every SIGNATURE_CASES input through both signatures' callers, in one fresh TensorFlow-only process."""
    png = tmp_path_factory.mktemp("png") / "one.png"
    png.write_bytes(encode(np.zeros((1, 32, 32, 3), np.uint8))[0])
    cases = json.dumps([case[:3] for case in SIGNATURE_CASES])
    result = run_python(_CALL_SIGNATURES, shared.version_dir, png, cases, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case, signature, expression, message", SIGNATURE_CASES, ids=[c[0] for c in SIGNATURE_CASES])
def test_signature_refuses_bad_input_naming_it(signature_results, case, signature, expression, message):
    loaded_call, raw_feed = signature_results[case]
    for got in (loaded_call, raw_feed):
        # our check's message, not an error from deep inside the network
        lines = [line for line in got.splitlines() if line.startswith("assertion failed: [")]
        assert len(lines) == 1 and re.search(message, lines[0]), got


def test_refusal_reaches_a_rest_client_in_one_line(shared, tmp_path):
    """A text file given to predict: refused locally, by name, before any request (issue 18)."""
    (tmp_path / "notes.png").write_text("not really a picture")
    loaded = tf.saved_model.load(str(shared.version_dir))
    with rest_double(loaded) as (url, _):
        result = _cli("predict", "--server", url, "--model", "tiny", tmp_path / "notes.png")
    _assert_refused(result, r"keras-resnet-cifar predict: error: image: .*notes\.png is not a readable image .*"
                    "accepted: PNG or JPEG")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "keras_resnet_cifar", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _assert_refused(result, message):
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("keras-resnet-cifar ")]
    assert re.search(message, line), line


def _diverged_model(shared, tmp_path):
    """A run whose best.keras has NaN in one kernel and inf in a BatchNorm moving variance."""
    import keras

    run = tmp_path / "diverged"
    shutil.copytree(shared.run_dir, run)
    model = keras.saving.load_model(shared.run_dir / "best.keras", compile=False)
    kernel = next(w for w in model.weights if "kernel" in w.path)
    variance = next(w for w in model.weights if "moving_variance" in w.path)
    values = np.asarray(kernel).copy()
    values.flat[:3] = np.nan
    kernel.assign(values)
    variance.assign(np.full(variance.shape, np.inf, np.float32))
    model.save(run / "best.keras")
    return run, kernel.path


def _corrupt_keras(shared, tmp_path):
    path = tmp_path / "half.keras"
    data = (shared.run_dir / "best.keras").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# (case, make the source from (shared, tmp_path), extra arguments, expected message)
EXPORT_CASES = [
    ("non-finite weights", lambda s, t: _diverged_model(s, t)[0], [],
     r"export: error: source: .*best\.keras has non-finite weights: \S+kernel holds 3 NaN/inf values of \d+ "
     r"\(and 1 more variable\); the training diverged.*lower --lr or --mixed-precision off, or export a model "
     r"saved before"),
    ("version exists", lambda s, t: s.run_dir, ["--version", "1"],
     r"export: error: version: .*tiny/1 exists; accepted: a new version .*--force"),
    ("version not a number", lambda s, t: s.run_dir, ["--version", "v2"],
     r"export: error: version: received 'v2'; accepted: a positive integer"),
    ("missing source", lambda s, t: t / "nowhere", [], r"export: error: .*nowhere: does not exist; accepted"),
    ("truncated .keras", _corrupt_keras, [], r"export: error: .*half\.keras: not a readable Keras model"),
]


@pytest.mark.parametrize("case, make_source, extra, message", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_export_refuses_and_keeps_the_earlier_export(shared, tmp_path, case, make_source, extra, message):
    base = tmp_path / "saved_models"
    shutil.copytree(shared.base, base)
    before, run_before = snapshot(base), snapshot(shared.run_dir)
    source = make_source(shared, tmp_path)
    _assert_refused(_cli("export", source, "--name", "tiny", "--base", base, *extra), message)
    assert snapshot(base) == before and snapshot(shared.run_dir) == run_before


def test_export_api_refuses_non_finite_weights_and_writes_nothing(shared, tmp_path):
    from keras_resnet_cifar.serving.export import export_model

    run, variable = _diverged_model(shared, tmp_path)
    with pytest.raises(ValueError, match=rf"non-finite weights: {variable} holds 3 NaN/inf values"):
        export_model(run, "tiny", base=tmp_path / "sm", verbose=False)
    assert not (tmp_path / "sm").exists()


def test_check_export_refuses_a_folder_without_versions(tmp_path):
    (tmp_path / "tiny" / ".export-1-abc").mkdir(parents=True)
    _assert_refused(_cli("check-export", tmp_path / "tiny"),
                    r"check-export: error: layout: .*tiny has no numeric version folder.*run `keras-resnet-cifar export`")
