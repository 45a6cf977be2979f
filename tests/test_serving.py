"""Serving clients: REST bodies in TF Serving's format, REST and gRPC against local doubles, the predict CLI."""
import base64
import importlib
import json
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_resnet_cifar
from keras_resnet_cifar.serving import client as serving
from keras_resnet_cifar.cli import main
from export_helpers import CLASS_NAMES, encode, rest_double, shared_export


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    shared = shared_export(tmp_path_factory)
    shared.loaded = tf.saved_model.load(str(shared.version_dir))
    return shared


def test_rest_bodies_follow_tf_serving_row_format():
    images = np.arange(2 * 32 * 32 * 3, dtype=np.int64).reshape(2, 32, 32, 3).astype(np.uint8)
    body = json.loads(json.dumps(serving.rest_request_body(images)))
    assert body["signature_name"] == "serving_default" and len(body["instances"]) == 2
    assert list(body["instances"][1]) == ["images"] and body["instances"][1]["images"] == images[1].tolist()
    files = [b"\x89PNG fake one", b"\xff\xd8 fake two"]
    body = json.loads(json.dumps(serving.rest_request_body(files)))
    assert body["signature_name"] == "serving_bytes"
    assert body["instances"] == [{"image_bytes": {"b64": base64.b64encode(f).decode()}} for f in files]
    assert serving.rest_url("http://h:8501/", "m") == "http://h:8501/v1/models/m:predict"
    assert serving.rest_url("http://h:8501", "m", 3) == "http://h:8501/v1/models/m/versions/3:predict"


@pytest.mark.parametrize("inputs, signature, message", [
    (np.zeros((1, 32, 32, 3), np.float32), None, r"received dtype float32.*accepted: uint8"),
    (np.zeros((32, 32, 3), np.uint8), None, r"shape \(32, 32, 3\).*x\[None\]"),
    ([b"png"], "serving_default", "received a list of bytes"),
    (np.zeros((1, 32, 32, 3), np.uint8), "serving_bytes", "accepted: a non-empty list of encoded"),
    ([], "serving_bytes", "non-empty list"),
])
def test_client_refuses_wrong_inputs_before_sending(inputs, signature, message):
    with pytest.raises(TypeError, match=message):
        serving.rest_request_body(inputs, signature)


def test_unknown_signature_is_refused():
    with pytest.raises(ValueError, match="accepted: serving_default, serving_bytes"):
        serving.rest_request_body([b"x"], "predict")


def test_rest_client_against_a_local_double(shared):
    with rest_double(shared.loaded) as (url, requests):
        result = serving.RestClient(url, "tiny").predict(shared.images)
        np.testing.assert_allclose(result["probabilities"], shared.expected, atol=1e-5)
        ids = shared.expected.argmax(axis=1)
        np.testing.assert_array_equal(result["class_ids"], ids)
        assert result["class_names"] == [CLASS_NAMES[i] for i in ids]
        result = serving.RestClient(url, "tiny", version=1).predict(encode(shared.images))
        np.testing.assert_allclose(result["probabilities"], shared.expected, atol=1e-5)
        assert [path for path, _ in requests] == ["/v1/models/tiny:predict", "/v1/models/tiny/versions/1:predict"]
        assert requests[1][1] == serving.rest_request_body(encode(shared.images))
        small = encode(np.zeros((1, 30, 32, 3), np.uint8))
        with pytest.raises(serving.ServingError, match=r"HTTP 400: assertion failed: \[image_bytes\[0\] must decode to a 32x32 image"):
            serving.RestClient(url, "tiny").predict(small)
        with pytest.raises(serving.ServingError, match="HTTP 404: Servable not found"):
            serving.RestClient(url, "other").predict(shared.images)
    with pytest.raises(serving.ServingError, match="cannot reach .*is TF Serving running"):
        serving.RestClient(url, "tiny", timeout=5).predict(shared.images)


def test_predict_cli_prints_top_classes(shared, tmp_path, capsys):
    paths = []
    for index, content in enumerate(encode(shared.images[:2])):
        paths.append(str(tmp_path / f"img{index}.png"))
        (tmp_path / f"img{index}.png").write_bytes(content)
    ranked = np.argsort(-shared.expected, axis=1)
    with rest_double(shared.loaded) as (url, requests):
        names = str(shared.version_dir / "class_names.json")
        for signature in ("serving_bytes", "serving_default"):
            argv = ["predict", "--server", url, "--model", "tiny", "--signature", signature, "--top", "2",
                    "--class-names", names, *paths]
            assert main(argv) == 0
            lines = capsys.readouterr().out.strip().splitlines()
            assert len(lines) == 2 and requests[-1][1]["signature_name"] == signature
            for line, path, order, row in zip(lines, paths, ranked, shared.expected):
                first, second = order[:2]
                assert line == f"{path}: {CLASS_NAMES[first]} {row[first]:.3f}, {CLASS_NAMES[second]} {row[second]:.3f}"
        assert main(["predict", "--server", url, "--model", "tiny", "--top", "2", paths[0]]) == 0
        assert capsys.readouterr().out.strip().endswith(f", #{ranked[0][1]} {shared.expected[0][ranked[0][1]]:.3f}")
        (tmp_path / "big.png").write_bytes(encode(np.zeros((1, 64, 64, 3), np.uint8))[0])
        assert main(["predict", "--server", url, "--model", "tiny", str(tmp_path / "big.png")]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("keras-resnet-cifar predict: error:") and "\n" not in error
        assert "image_bytes[0] must decode to a 32x32 image; it decodes to (height, width, channels) [64 64 3]" in error
    assert main(["predict", "--server", "localhost:8501", paths[0]]) == 2
    assert "accepted: http://HOST:8501 (REST) or grpc://HOST:8500" in capsys.readouterr().err
    assert main(["predict", "--server", url, str(tmp_path / "missing.png")]) == 2
    assert "missing.png does not exist" in capsys.readouterr().err


def test_grpc_request_construction():
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    request = serving.make_predict_request(images, "tiny", version=4)
    assert (request.model_spec.name, request.model_spec.signature_name) == ("tiny", "serving_default")
    assert request.model_spec.version.value == 4 and list(request.inputs) == ["images"]
    assert request.inputs["images"].dtype == tf.uint8.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["images"]), images)
    request = serving.make_predict_request([b"one", b"three"], "tiny")
    assert request.model_spec.signature_name == "serving_bytes" and not request.model_spec.HasField("version")
    assert list(tf.make_ndarray(request.inputs["image_bytes"])) == [b"one", b"three"]


def test_grpc_client_against_an_in_process_server(shared):
    import concurrent.futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            signature = request.model_spec.signature_name
            feed = {name: tf.constant(tf.make_ndarray(tensor)) for name, tensor in request.inputs.items()}
            try:
                outputs = shared.loaded.signatures[signature](**feed)
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        client = serving.GrpcClient(f"127.0.0.1:{port}", "tiny")
        for inputs in (shared.images, encode(shared.images)):
            result = client.predict(inputs)
            np.testing.assert_allclose(result["probabilities"], shared.expected, atol=1e-5)
            assert result["class_names"] == [CLASS_NAMES[i] for i in shared.expected.argmax(axis=1)]
        with pytest.raises(serving.ServingError, match=r"INVALID_ARGUMENT: assertion failed: \[image_bytes\[0\] must decode to a 32x32"):
            client.predict(encode(np.zeros((1, 8, 8, 3), np.uint8)))
        client.close()
    finally:
        server.stop(None)


def test_rest_client_works_without_tensorflow_serving_api(monkeypatch):
    for name in ("tensorflow_serving", "tensorflow_serving.apis", "tensorflow_serving.apis.predict_pb2",
                 "tensorflow_serving.apis.prediction_service_pb2_grpc"):
        monkeypatch.setitem(sys.modules, name, None)  # makes any import of it fail
    monkeypatch.setattr(keras_resnet_cifar, "serving", serving)  # restored afterwards, as sys.modules is
    monkeypatch.delitem(sys.modules, "keras_resnet_cifar.serving.client")
    fresh = importlib.import_module("keras_resnet_cifar.serving.client")
    assert fresh.rest_request_body([b"x"])["signature_name"] == "serving_bytes"
    assert fresh.RestClient("http://127.0.0.1:1", "m").url.endswith("/v1/models/m:predict")
    with pytest.raises(ImportError, match=r"pip install 'keras-resnet-cifar\[serving\]'"):
        fresh.GrpcClient("127.0.0.1:1", "m")
    with pytest.raises(ImportError, match="tensorflow-serving-api"):
        fresh.make_predict_request([b"x"], "m")
