"""Export for TF Serving: layout, outputs against the Keras model, TensorFlow's own tools, atomicity, bad input."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from keras_resnet_cifar.serving.export import export_model, list_versions
from keras_resnet_cifar.serving.schema import SIGNATURE_INPUTS
from export_helpers import CLASS_NAMES, MEAN, encode, reference_probabilities, run_python, shared_export


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return shared_export(tmp_path_factory)


def _load(folder):
    return tf.saved_model.load(str(folder))


def test_layout_metadata_and_models_config(shared):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    folder = shared.version_dir
    for name in ("saved_model.pb", "variables/variables.index", "assets.extra/tf_serving_warmup_requests"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "class_names.json").read_text()) == CLASS_NAMES
    assert json.loads((folder / "config.json").read_text())["data"]["mean"] == list(MEAN)
    info = json.loads((folder / "export.json").read_text())
    assert info["preprocessing"]["mean"] == list(MEAN) and info["preprocessing"]["normalize"] is True
    assert info["image_shape"] == [32, 32, 3] and info["version"] == 1 and info["model_name"] == "tiny"
    assert sorted(os.listdir(folder.parent)) == ["1"]  # no temporary folder left behind
    config = text_format.Parse((shared.base / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("tiny", "/models/tiny", "tensorflow")


def test_both_signatures_match_the_keras_model(shared):
    loaded = _load(shared.version_dir)
    out = loaded.signatures["serving_default"](images=tf.constant(shared.images))
    np.testing.assert_allclose(out["probabilities"].numpy(), shared.expected, atol=1e-5)
    ids = shared.expected.argmax(axis=1)
    np.testing.assert_array_equal(out["class_ids"].numpy(), ids)
    assert [n.decode() for n in out["class_names"].numpy()] == [CLASS_NAMES[i] for i in ids]
    png = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encode(shared.images)))
    np.testing.assert_allclose(png["probabilities"].numpy(), shared.expected, atol=1e-5)
    # JPEG is lossy: compare with the model on the decoded pixels
    jpegs = encode(shared.images, "JPEG")
    decoded = np.stack([tf.io.decode_jpeg(j, channels=3).numpy() for j in jpegs])
    jpeg = loaded.signatures["serving_bytes"](image_bytes=tf.constant(jpegs))
    np.testing.assert_allclose(jpeg["probabilities"].numpy(), reference_probabilities(shared.model, decoded), atol=1e-5)


def test_saved_model_cli_show_and_run(shared, tmp_path):
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    show = subprocess.run([cli, "show", "--all", "--dir", shared.version_dir], capture_output=True, text=True, env=env)
    assert show.returncode == 0, show.stderr[-2000:]
    default = show.stdout.split("signature_def['serving_default']")[1]
    assert "inputs['images']" in default and "DT_UINT8" in default and "shape: (-1, 32, 32, 3)" in default
    by_bytes = show.stdout.split("signature_def['serving_bytes']")[1].split("signature_def[")[0]
    assert "inputs['image_bytes']" in by_bytes and "DT_STRING" in by_bytes
    for output in ("outputs['probabilities']", "outputs['class_ids']", "outputs['class_names']"):
        assert output in default and output in by_bytes
    np.save(tmp_path / "images.npy", shared.images)
    run = subprocess.run([cli, "run", "--dir", shared.version_dir, "--tag_set", "serve", "--signature_def",
                          "serving_default", "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", tmp_path / "out"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out" / "probabilities.npy"), shared.expected, atol=1e-5)
    names = np.load(tmp_path / "out" / "class_names.npy", allow_pickle=True)
    assert [n.decode() for n in names] == [CLASS_NAMES[i] for i in shared.expected.argmax(axis=1)]


_FRESH = """
import sys
sys.modules["keras_resnet_cifar"] = None  # any import of the package (or of Keras) would fail
sys.modules["keras"] = None
import numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
files = [open(p, "rb").read() for p in sys.argv[4:]]
a = model.signatures["serving_default"](images=tf.constant(images))["probabilities"].numpy()
b = model.signatures["serving_bytes"](image_bytes=tf.constant(files))["probabilities"].numpy()
np.save(sys.argv[3], np.stack([a, b]))
"""


def test_fresh_tensorflow_only_process_reproduces_outputs(shared, tmp_path):
    np.save(tmp_path / "images.npy", shared.images)
    paths = []
    for index, content in enumerate(encode(shared.images)):
        paths.append(tmp_path / f"{index}.png")
        paths[-1].write_bytes(content)
    result = run_python(_FRESH, shared.version_dir, tmp_path / "images.npy", tmp_path / "out.npy", *paths)
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out[0], shared.expected, atol=1e-5)
    np.testing.assert_allclose(out[1], shared.expected, atol=1e-5)


_EXPORT = "import sys; from keras_resnet_cifar.serving.export import export_model; export_model(sys.argv[1], 'tiny', base=sys.argv[2])"


def test_killed_export_leaves_no_version_and_the_next_succeeds(shared, tmp_path):
    base = tmp_path / "saved_models"
    shutil.copytree(shared.version_dir, base / "tiny" / "1")
    process = subprocess.Popen([sys.executable, "-c", _EXPORT, shared.run_dir, base], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "KERAS_RESNET_CIFAR_EXPORT_PAUSE_S": "120"})
    try:
        deadline = time.time() + 150
        while not list(base.glob("tiny/.export-*/assets.extra/tf_serving_warmup_requests")):
            assert process.poll() is None and time.time() < deadline, "the export never reached its rename"
            time.sleep(0.2)
        time.sleep(0.5)  # the export is complete in the temporary folder, about to be renamed
    finally:
        process.kill()
        process.wait()
    assert list_versions(base / "tiny") == [1] and not (base / "models.config").exists()
    leftovers = [name for name in os.listdir(base / "tiny") if name != "1"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".export-2-")
    path = export_model(shared.run_dir, "tiny", base=base, verbose=False)  # the next free version
    assert path == base / "tiny" / "2" and list_versions(base / "tiny") == [1, 2]
    assert (path / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert 'name: "tiny"' in (base / "models.config").read_text()


def test_versions_force_and_a_bare_keras_file(shared, tmp_path, capsys):
    base = tmp_path / "saved_models"
    for version in ("1", "2"):
        shutil.copytree(shared.version_dir, base / "tiny" / version)
    with pytest.raises(FileExistsError, match=r"tiny/1 exists.*next free one is 3.*--force"):
        export_model(shared.run_dir, "tiny", version=1, base=base)
    # A bare .keras file: CIFAR-10 normalization and names, said aloud; --force replaces version 1.
    bare = tmp_path / "alone" / "model.keras"
    bare.parent.mkdir()
    shutil.copy(shared.run_dir / "best.keras", bare)
    path = export_model(bare, "tiny", version="1", base=base, force=True)
    assert "no config.json" in capsys.readouterr().out
    assert list_versions(base / "tiny") == [1, 2] and sorted(os.listdir(base / "tiny")) == ["1", "2"]
    assert json.loads((path / "class_names.json").read_text()) == list(CIFAR10_CLASSES)
    assert not (path / "config.json").exists()
    assert json.loads((path / "export.json").read_text())["preprocessing"]["mean"] == list(CIFAR10_MEAN)
    out = _load(path).signatures["serving_default"](images=tf.constant(shared.images))["probabilities"].numpy()
    expected = reference_probabilities(shared.model, shared.images, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_unnormalized_training_gets_plain_scaling(shared):
    from keras_resnet_cifar.serving.signatures import serving_functions

    functions = serving_functions(shared.model, CLASS_NAMES, DataConfig(normalize=False))
    out = functions["serving_default"](tf.constant(shared.images))["probabilities"].numpy()
    np.testing.assert_allclose(out, reference_probabilities(shared.model, shared.images, normalize=False), atol=1e-5)
    out = functions["serving_bytes"](tf.constant(encode(shared.images)))["probabilities"].numpy()
    np.testing.assert_allclose(out, reference_probabilities(shared.model, shared.images, normalize=False), atol=1e-5)


@pytest.mark.parametrize("version", ["1.5", "v2", "-1", "", " 3", 0, -3, 2.0, True])
def test_non_integer_or_non_positive_version_is_refused(shared, tmp_path, version):
    with pytest.raises(ValueError, match=r"version: received .*accepted: a positive integer"):
        export_model(shared.run_dir, "tiny", version=version, base=tmp_path / "sm")
    assert not (tmp_path / "sm").exists()


@pytest.mark.parametrize("name", ["", "a/b", "..", "12", "x y", None])
def test_bad_model_name_is_refused(shared, tmp_path, name):
    with pytest.raises(ValueError, match="name: received"):
        export_model(shared.run_dir, name, base=tmp_path / "sm")


def test_bad_sources_are_refused_and_write_nothing(shared, tmp_path):
    import keras

    from keras_resnet_cifar import build_resnet

    base = tmp_path / "sm"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_model(tmp_path / "nowhere", "tiny", base=base)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty/best.keras: does not exist.*first epoch"):
        export_model(tmp_path / "empty", "tiny", base=base)
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(ValueError, match="notes.keras: not a readable Keras model"):
        export_model(tmp_path / "notes.keras", "tiny", base=base)
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF")
    with pytest.raises(ValueError, match=r"accepted: a run directory.*\.keras"):
        export_model(tmp_path / "weights.h5", "tiny", base=base)
    run_dir = tmp_path / "run"
    shutil.copytree(shared.run_dir, run_dir)
    (run_dir / "class_names.json").write_text('["a", "b", "c"]')
    with pytest.raises(ValueError, match="holds 3 entries.*accepted: 10 non-empty strings"):
        export_model(run_dir, "tiny", base=base)
    (run_dir / "class_names.json").write_text(json.dumps(CLASS_NAMES))
    (run_dir / "config.json").write_text('{"data": {"mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}}')
    with pytest.raises(ValueError, match=r"data.mean: received \[0.5, 0.5\]; accepted: 3 numbers"):
        export_model(run_dir, "tiny", base=base)
    keras.utils.set_random_seed(0)
    build_resnet([1], [4], num_classes=7).save(tmp_path / "seven.keras")
    with pytest.raises(FileNotFoundError, match="class_names.json: does not exist and the model has 7 classes"):
        export_model(tmp_path / "seven.keras", "tiny", base=base)
    assert not base.exists()


def test_signatures_refuse_wrong_shapes_dtypes_and_files(shared):
    loaded = _load(shared.version_dir)
    default, by_bytes = loaded.signatures["serving_default"], loaded.signatures["serving_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: received shape \[1 28 28 3\]; accepted: uint8 \[N, 32, 32, 3\]"):
        default(images=tf.zeros([1, 28, 28, 3], tf.uint8))
    for wrong, kind in ((tf.zeros([1, 32, 32, 3], tf.float32), "float"), (tf.constant(["x"]), "string")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"expected to be a uint8 tensor but is a {kind}"):
            default(images=wrong)
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor but is a uint8"):
        by_bytes(image_bytes=tf.constant(shared.images))
    good = encode(shared.images[:1])[0]
    small = encode(np.zeros((1, 31, 32, 3), np.uint8))[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes\[1\] must decode to a 32x32 image; it decodes to "
                       r"\(height, width, channels\) \[31 32 3\]: resize it to 32x32"):
        by_bytes(image_bytes=tf.constant([good, small]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes\[1\] is not an image file: received 12 bytes, "
                       r"starting <not an image>; accepted: the bytes of a PNG, JPEG"):
        by_bytes(image_bytes=tf.constant([good, b"not an image"]))
    gray = encode(np.full((1, 32, 32), 128, np.uint8))[0]  # one channel: decoded to RGB, accepted
    assert by_bytes(image_bytes=tf.constant([gray]))["probabilities"].shape == (1, 10)


def test_graph_checks_shapes_itself_as_tf_serving_needs(shared):
    """TF Serving feeds tensors to the graph without checking them against the signature's shape."""
    from tensorflow.core.protobuf import config_pb2

    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(shared.version_dir))
        signature = meta.signature_def["serving_default"]
        options = config_pb2.CallableOptions(feed=[signature.inputs[SIGNATURE_INPUTS["serving_default"]].name],
                                             fetch=[signature.outputs["probabilities"].name])
        run = session._make_callable_from_options(options)  # a raw feed, as TF Serving's C++ session gets
        np.testing.assert_allclose(run(shared.images)[0], shared.expected, atol=1e-5)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"received shape \[2 64 64 3\]; accepted: uint8 \[N, 32, 32, 3\] with N >= 1"):
            run(np.zeros((2, 64, 64, 3), np.uint8))
        with pytest.raises(tf.errors.InvalidArgumentError, match="expect uint8"):
            run(np.zeros((2, 32, 32, 3), np.float32))


def test_warmup_records_parse_and_name_existing_signatures(shared):
    from tensorflow_serving.apis import prediction_log_pb2

    from keras_resnet_cifar.serving.client import make_predict_request
    from keras_resnet_cifar.serving.warmup import sample_inputs

    path = shared.version_dir / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert len(logs) == 4
    # written without tensorflow-serving-api, they are what its own classes would write
    expected = []
    for batch in (1, 8):
        images, pngs = sample_inputs((32, 32, 3), batch, seed=0)
        for signature, inputs in (("serving_default", images), ("serving_bytes", pngs)):
            request = make_predict_request(inputs, "tiny", signature=signature)
            expected.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    assert logs == expected and records == [log.SerializeToString() for log in expected]
    loaded = _load(shared.version_dir)
    for log in logs:
        request = log.predict_log.request
        signature = request.model_spec.signature_name
        assert signature in loaded.signatures and request.model_spec.name == "tiny"
        (name,) = request.inputs
        assert name == SIGNATURE_INPUTS[signature]
        feed = tf.make_ndarray(request.inputs[name])
        assert feed.dtype == (np.uint8 if signature == "serving_default" else object)
        assert len(feed) in (1, 8) and (signature != "serving_default" or feed.shape[1:] == (32, 32, 3))
        out = loaded.signatures[signature](**{name: tf.constant(feed)})
        assert out["probabilities"].shape == (len(feed), 10)


_WITHOUT_SERVING_API = """
import sys
sys.modules["tensorflow_serving"] = None  # as if tensorflow-serving-api were not installed: imports fail
from keras_resnet_cifar.cli import main
for argv in (sys.argv[1:7], ["check-export", sys.argv[7]]):
    code = main(argv)
    if code:
        sys.exit(code)
"""

# A user's models.config, edited with fields the exporter never writes: kept as they are.
_EDITED_CONFIG = """model_config_list {
  config { name: "other" base_path: "/models/other" model_platform: "tensorflow"
    model_version_policy { specific { versions: 2 versions: 3 } } version_labels { key: "stable" value: 2 }
    logging_config { log_collector_config { type: "file" filename_prefix: "/logs/other" }
                     sampling_config { sampling_rate: 0.25 } } }
}
"""


def test_export_and_check_need_no_tensorflow_serving_api(shared, tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    base = tmp_path / "saved_models"
    base.mkdir()
    (base / "models.config").write_text(_EDITED_CONFIG)
    result = run_python(_WITHOUT_SERVING_API, "export", shared.run_dir, "--name", "tiny", "--base", base,
                        base / "tiny", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "all 6 checks passed" in result.stdout
    warmup = pathlib.Path("assets.extra", "tf_serving_warmup_requests")
    assert (base / "tiny" / "1" / warmup).read_bytes() == (shared.version_dir / warmup).read_bytes()
    parsed = text_format.Parse((base / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    edited = text_format.Parse(_EDITED_CONFIG, model_server_config_pb2.ModelServerConfig())
    other, tiny = parsed.model_config_list.config
    assert other == edited.model_config_list.config[0]
    assert (tiny.name, tiny.base_path, tiny.model_version_policy.HasField("all")) == ("tiny", "/models/tiny", True)


def test_cli_export_reports_errors_in_one_line(shared, tmp_path, capsys):
    from keras_resnet_cifar.cli import main

    base = tmp_path / "sm"
    shutil.copytree(shared.version_dir, base / "tiny" / "1")
    assert main(["export", str(shared.run_dir), "--name", "tiny", "--base", str(base), "--version", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-resnet-cifar export: error: version:") and "\n" not in error
    assert main(["export", str(shared.run_dir), "--name", "tiny", "--base", str(base), "--version", "x"]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_mixed_precision_model_is_served_in_float32(tmp_path):
    import keras

    from keras_resnet_cifar import PRESETS, build_resnet
    from keras_resnet_cifar.serving.source import load_source

    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = build_resnet(**PRESETS["tiny"], activation="swish", activation_coef=1.5)
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.save(tmp_path / "mixed.keras")
    loaded = load_source(tmp_path / "mixed.keras")
    assert {layer.dtype_policy.name for layer in loaded.model.layers} == {"float32"}
    assert any("mixed_float16" in note for note in loaded.notes)
    reference = build_resnet(**PRESETS["tiny"], activation="swish", activation_coef=1.5)
    reference.set_weights(mixed.get_weights())
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(reference(x)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(mixed(x), dtype=np.float32), atol=0.05)
