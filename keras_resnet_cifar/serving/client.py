"""Clients for a model served by TF Serving: REST (`RestClient`) and gRPC (`GrpcClient`).

This module also holds the serving contract the exporter writes and the clients speak:
the signature names, their input tensor names and the output names. It imports neither
TensorFlow nor tensorflow-serving-api until a gRPC request is built, so the REST client
works with the standard library and NumPy alone.
"""
import base64
import json
import urllib.error
import urllib.request

import numpy as np

from keras_resnet_cifar.serving.schema import (DEFAULT_MODEL_NAME, OUTPUT_NAMES, SIGNATURE_INPUTS, as_outputs,
                                               missing_outputs)
from keras_resnet_cifar.errors import UserError, UserTypeError

# Signature name -> its single input tensor's name. `serving_default` takes uint8 pixels,
# `serving_bytes` encoded PNG/JPEG files (sent over REST as {"b64": ...}).


class ServingError(RuntimeError):
    """The server refused a request or could not be reached; the message says which and why."""


def _one_line(detail):
    """TensorFlow's error text without its graph-location lines ("Detected at node", "[[{{node ...}}]]")."""
    noise = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[", "File ")
    lines = [line.strip() for line in str(detail).splitlines()]
    kept = [line for line in lines if line and not line.startswith(noise)]
    return " ".join(kept or lines[:1])


def _as_inputs(inputs, signature):
    """Check `inputs` against `signature` and return (signature, uint8 array or list of bytes)."""
    is_bytes = isinstance(inputs, (list, tuple)) and all(isinstance(item, bytes) for item in inputs)
    if signature is None:
        signature = "serving_bytes" if is_bytes else "serving_default"
    if signature not in SIGNATURE_INPUTS:
        raise UserError(f"signature: received {signature!r}; accepted: {', '.join(SIGNATURE_INPUTS)}")
    if signature == "serving_bytes":
        if not is_bytes or not inputs:
            raise UserTypeError(
                f"serving_bytes: received {type(inputs).__name__}; accepted: a non-empty list of encoded "
                "PNG/JPEG file contents (bytes), e.g. [open('cat.png', 'rb').read()]")
        return signature, list(inputs)
    images = np.asarray(inputs) if not is_bytes else None
    if images is None or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        got = "a list of bytes" if is_bytes else f"dtype {images.dtype}, shape {images.shape}"
        raise UserTypeError(
            f"serving_default: received {got}; accepted: uint8 pixels 0..255 of shape (batch, height, "
            "width, 3) (the signature normalizes them itself). Convert 0..255 pixels with "
            ".astype(np.uint8), add a batch axis with x[None], or send files to serving_bytes")
    return signature, images


def rest_url(server, model, version=None):
    """The TF Serving REST predict URL, `SERVER/v1/models/MODEL[/versions/V]:predict`.

    Example:
        rest_url("http://localhost:8501", "resnet_cifar", 2)
    """
    url = f"{server.rstrip('/')}/v1/models/{model}"
    return url + (f"/versions/{int(version)}" if version is not None else "") + ":predict"


def rest_request_body(inputs, signature=None):
    """The JSON body of a REST predict request in TF Serving's row ("instances") format.

    Args:
        inputs: uint8 array (batch, height, width, 3) for `serving_default`, or a list of
            encoded image files (bytes) for `serving_bytes`, each sent as {"b64": ...}.
        signature: signature name; None picks it from the type of `inputs`.

    Example:
        rest_request_body([png_bytes])  # {"signature_name": "serving_bytes", "instances": [...]}
    """
    signature, values = _as_inputs(inputs, signature)
    name = SIGNATURE_INPUTS[signature]
    if signature == "serving_bytes":
        rows = [{name: {"b64": base64.b64encode(item).decode("ascii")}} for item in values]
    else:
        rows = [{name: image.tolist()} for image in values]
    return {"signature_name": signature, "instances": rows}


def parse_rest_response(body):
    """Turn a row-format response {"predictions": [{...}, ...]} into arrays, one entry per output."""
    rows = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ServingError(f"response: received {str(body)[:200]!r}; expected {{\"predictions\": [{{...}}, ...]}} "
                           "from a model exported by `keras-resnet-cifar export`")
    missing = missing_outputs(rows[0]) if rows else []
    if missing:
        raise ServingError(f"response: outputs {missing} missing; received {sorted(rows[0])}")
    return as_outputs({name: [row[name] for row in rows] for name in OUTPUT_NAMES})


class RestClient:
    """Predict through TF Serving's REST API (port 8501).

    Args:
        server: base URL, e.g. "http://localhost:8501".
        model: the served model name (`MODEL_NAME`). Default "resnet_cifar".
        version: int, a specific version; None lets the server pick (the newest). Default None.
        timeout: seconds per request. Default 30.

    Example:
        client = RestClient("http://localhost:8501", "resnet_cifar")
        client.predict([open("cat.png", "rb").read()])["class_names"]  # ["cat"]
    """

    def __init__(self, server, model=DEFAULT_MODEL_NAME, *, version=None, timeout=30.0):
        self.url = rest_url(server, model, version)
        self.timeout = timeout

    def predict(self, inputs, signature=None):
        """Predict a batch; returns {"probabilities": (N, C), "class_ids": (N,), "class_names": [N]}."""
        data = json.dumps(rest_request_body(inputs, signature)).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise ServingError(f"{self.url} answered HTTP {error.code}: {_one_line(detail)}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ServingError(f"cannot reach {self.url}: {reason}; is TF Serving running "
                               "(see docs/serving.md)?") from None
        return parse_rest_response(body)


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as error:
        raise ImportError(f"gRPC needs tensorflow-serving-api ({error}); install it with "
                          "pip install 'keras-resnet-cifar[serving]'") from None
    return predict_pb2, prediction_service_pb2_grpc


def make_predict_request(inputs, model=DEFAULT_MODEL_NAME, *, signature=None, version=None):
    """A `tensorflow.serving.PredictRequest` proto for `inputs` (as `rest_request_body` takes them).

    Example:
        request = make_predict_request(images, "resnet_cifar")  # images: uint8 (N, 32, 32, 3)
    """
    predict_pb2, _ = _serving_apis()
    return fill_predict_request(predict_pb2.PredictRequest(), inputs, model, signature=signature, version=version)


def fill_predict_request(request, inputs, model=DEFAULT_MODEL_NAME, *, signature=None, version=None):
    """Fill `request`, any message shaped like `tensorflow.serving.PredictRequest`; returns it.

    tensorflow-serving-api's class (gRPC) and the exporter's own copy (`protos.py`, warmup
    records) share this, so both carry the same request.
    """
    import tensorflow as tf

    signature, values = _as_inputs(inputs, signature)
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    tensor = tf.make_tensor_proto(values, dtype=tf.string if signature == "serving_bytes" else tf.uint8)
    request.inputs[SIGNATURE_INPUTS[signature]].CopyFrom(tensor)
    return request


def parse_predict_response(response):
    """Turn a `PredictResponse` proto into the dict `RestClient.predict` returns."""
    import tensorflow as tf

    if missing_outputs(response.outputs):
        raise ServingError(f"response: outputs {sorted(response.outputs)} received; expected {list(OUTPUT_NAMES)}")
    return as_outputs({name: tf.make_ndarray(response.outputs[name]) for name in OUTPUT_NAMES})


class GrpcClient:
    """Predict through TF Serving's gRPC API (port 8500), with tensorflow-serving-api's stubs.

    Args:
        target: "host:port", e.g. "localhost:8500".
        model: the served model name. Default "resnet_cifar".
        version: int or None (the newest). Default None.
        timeout: seconds per request. Default 30.

    Example:
        GrpcClient("localhost:8500").predict(images)["class_ids"]
    """

    def __init__(self, target, model=DEFAULT_MODEL_NAME, *, version=None, timeout=30.0):
        import grpc  # optional (tensorflow-serving-api's dependency): the REST client needs none of it

        _, service = _serving_apis()
        self.target, self.model, self.version, self.timeout = target, model, version, timeout
        self._channel = grpc.insecure_channel(target)
        self._stub = service.PredictionServiceStub(self._channel)

    def predict(self, inputs, signature=None):
        """Predict a batch; returns the same dict as `RestClient.predict`."""
        import grpc

        request = make_predict_request(inputs, self.model, signature=signature, version=self.version)
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(f"{self.target} ({self.model}) answered {error.code().name}: "
                               f"{_one_line(error.details())}") from None
        return parse_predict_response(response)

    def close(self):
        self._channel.close()
