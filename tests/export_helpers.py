"""Shared by the export and serving tests: one tiny trained run, exported once per session.

The first module that asks trains and exports into pytest's session temp folder; later
modules find the folder there and only reload the Keras model for reference outputs.
Tests that damage an export work on a copy. `rest_double` answers TF Serving's REST
predict route with a loaded export, for the clients and the `predict` command.
"""
import base64
import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import types

import numpy as np
import tensorflow as tf

from keras_resnet_cifar.serving.schema import SIGNATURE_INPUTS

CLASS_NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.2, 0.3)  # not CIFAR-10's: proves the run's config is baked in


def make_run(run_dir, *, normalize=True, seed=0):
    """Train a tiny ResNet for two steps on random data; write best.keras, config.json, class_names.json."""
    import keras

    from keras_resnet_cifar import PRESETS, build_resnet
    from keras_resnet_cifar.config import DataConfig, TrainConfig

    keras.utils.set_random_seed(seed)
    # swish with beta 1.5 is the package's custom Swish layer: the SavedModel must not need it
    model = build_resnet(**PRESETS["tiny"], activation="swish", activation_coef=1.5)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (16, 32, 32, 3)).astype("float32") / 255
    model.fit(x, rng.integers(0, 10, 16), batch_size=8, epochs=1, verbose=0)
    os.makedirs(run_dir, exist_ok=True)
    model.save(os.path.join(run_dir, "best.keras"))
    config = TrainConfig(data=DataConfig(normalize=normalize, mean=MEAN, std=STD))
    with open(os.path.join(run_dir, "config.json"), "w") as handle:
        json.dump(config.to_dict(), handle)
    with open(os.path.join(run_dir, "class_names.json"), "w") as handle:
        json.dump(CLASS_NAMES, handle)
    return model


def reference_probabilities(model, images, *, normalize=True, mean=MEAN, std=STD):
    """softmax(model(x)) of the Keras model on uint8 `images`, preprocessed as in training."""
    x = images.astype("float32") / 255
    if normalize:
        x = (x - np.float32(mean)) / np.float32(std)
    logits = np.asarray(model(x, training=False), dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def shared_export(tmp_path_factory):
    """The session's tiny run exported as saved_models/tiny/1, with sample images and reference outputs."""
    import keras

    from keras_resnet_cifar.serving.export import export_model

    root = tmp_path_factory.getbasetemp() / "shared_export"
    run_dir, base = root / "run", root / "saved_models"
    if not (base / "tiny" / "1" / "saved_model.pb").exists():
        make_run(run_dir)
        export_model(run_dir, "tiny", base=base, verbose=False)
    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    images = np.random.default_rng(7).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    return types.SimpleNamespace(run_dir=run_dir, base=base, version_dir=base / "tiny" / "1", model=model,
                                 images=images, expected=reference_probabilities(model, images))


def copy_export(shared, tmp_path):
    """A private copy of the shared version folder, for tests that damage it."""
    target = tmp_path / "tiny" / "1"
    shutil.copytree(shared.version_dir, target)
    return target


def encode(images, fmt="PNG"):
    """Encoded image files (bytes) of uint8 `images`, with Pillow."""
    import io

    from PIL import Image

    files = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, fmt)
        files.append(buffer.getvalue())
    return files


def _run_signature(loaded, signature, instances):
    """Row-format instances -> the exported signature -> row-format predictions (as TF Serving does)."""
    name = SIGNATURE_INPUTS[signature]
    values = [row[name] for row in instances]
    if signature == "serving_bytes":
        tensor = tf.constant([base64.b64decode(value["b64"]) for value in values])
    else:
        tensor = tf.constant(np.asarray(values, dtype=np.uint8))
    outputs = {key: value.numpy() for key, value in loaded.signatures[signature](**{name: tensor}).items()}
    return [{"probabilities": outputs["probabilities"][i].tolist(), "class_ids": int(outputs["class_ids"][i]),
             "class_names": outputs["class_names"][i].decode()} for i in range(len(values))]


@contextlib.contextmanager
def rest_double(loaded, model="tiny"):
    """A local HTTP server answering TF Serving's REST predict route; yields (url, recorded requests)."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append((self.path, body))
            match = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict", self.path)
            if not match or match.group(1) != model:
                return self._answer(404, {"error": f"Servable not found for request: {self.path}"})
            try:
                return self._answer(200, {"predictions": _run_signature(loaded, body["signature_name"], body["instances"])})
            except tf.errors.InvalidArgumentError as error:
                return self._answer(400, {"error": error.message})

        def _answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def run_python(code, *args, env=None, timeout=120):
    """Run `code` in a fresh interpreter (the venv's); returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})

