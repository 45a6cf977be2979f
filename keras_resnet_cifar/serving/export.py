"""`export_model`: a run or `.keras` file -> `saved_models/NAME/VERSION/`, TF Serving's layout.

Each version is written into a temporary, non-numeric folder beside its final place
and renamed into place when complete, so a TF Serving instance polling the folder never
loads a half-written version; a full disk removes that folder and names the version and the
space it needs (`errors.StorageError`). One export at a time holds the base (BASE/.lock, see
`locks`) while it picks the version number and writes; a second one is refused at once. The export holds:

    saved_models/models.config            model_config_list for serving several models
    saved_models/NAME/VERSION/
        saved_model.pb, variables/        the SavedModel (signatures serving_default, serving_bytes)
        assets.extra/tf_serving_warmup_requests
        class_names.json, export.json     the labels; what was baked in and where it came from
        config.json                       the training run's config, when it had one
"""
import datetime
import json
import os
import pathlib
import re
import shutil
import tempfile
import time

from keras_resnet_cifar.errors import UserError, UserFileExistsError, storage_error
from keras_resnet_cifar.files import write_text
from keras_resnet_cifar.locks import hold_folder

MODELS_CONFIG = "models.config"
# Test hook: seconds to sleep after the SavedModel is complete and before the rename,
# so a test can kill an export at its most delicate moment.
_PAUSE_ENV = "KERAS_RESNET_CIFAR_EXPORT_PAUSE_S"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def export_model(source, name, *, version=None, base="saved_models", force=False, verbose=True):
    """Export a trained model for TF Serving as `BASE/NAME/VERSION/`; returns that path.

    Args:
        source: a run directory holding `best.keras` (plus `config.json`, `class_names.json`),
            or a `MODEL.keras` file (then the CIFAR-10 normalization and class names are
            assumed unless those files lie beside it).
        name: str, the served model name (`MODEL_NAME` in TF Serving), letters, digits, `_.-`.
        version: positive int (or its digits as str); None takes the next free integer. Default None.
        base: TF Serving's model base path. Default "saved_models".
        force: bool, replace an existing version. Default False.
        verbose: bool, print the notes and the result. Default True.

    Example:
        path = export_model("runs/resnet24", "resnet_cifar")  # saved_models/resnet_cifar/1
    """
    import keras

    from keras_resnet_cifar.serving.source import load_source

    if keras.backend.backend() != "tensorflow":
        raise UserError(f"export: running on the Keras backend {keras.backend.backend()!r}; accepted: tensorflow "
                         "(a SavedModel for TF Serving is TensorFlow's format); run it with TensorFlow installed "
                         "and KERAS_BACKEND=tensorflow: a .keras checkpoint written on any backend loads there")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.isdigit():
        raise UserError(f"name: received {name!r}; accepted: letters, digits, '_', '.', '-', starting with a "
                         "letter or digit and not all digits, e.g. resnet_cifar")
    version = _parse_version(version)
    _pick_version(pathlib.Path(base) / name, version, force)  # refuse a taken version before the slow load
    loaded = load_source(source)  # before touching the disk: a bad source leaves nothing behind
    with hold_folder(base, "export"):  # one export per base: the version number and models.config are its
        final = _write_locked(pathlib.Path(base), name, version, loaded, force)
    if verbose:
        for note in loaded.notes:
            print(f"note: {note}")
        print(f"exported {loaded.model_path} -> {final} (signatures serving_default, serving_bytes)")
    return final


def _pick_version(model_dir, version, force):
    """The version folder to write: `version`, or the next free one; a taken one is refused unless `force`."""
    existing = list_versions(model_dir)
    final = model_dir / str(version if version is not None else max(existing, default=0) + 1)
    if final.exists() and not force:
        raise UserFileExistsError(f"version: {final} exists; accepted: a new version (the next free one is "
                              f"{max(existing, default=0) + 1}: omit --version), or --force to replace it")
    return final


def _write_locked(base, name, version, loaded, force):
    model_dir = base / name
    final = _pick_version(model_dir, version, force)  # again under the lock: the number is now this export's
    version = int(final.name)
    model_dir.mkdir(parents=True, exist_ok=True)
    temp = pathlib.Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir))
    try:
        _write_version(temp, loaded, name, version)
        temp.chmod(0o755)  # mkdtemp makes it private; TF Serving may run as another user
        if os.environ.get(_PAUSE_ENV):
            time.sleep(float(os.environ[_PAUSE_ENV]))
        _move_into_place(temp, final, force)
    except BaseException as error:
        written = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file()) if temp.exists() else 0
        shutil.rmtree(temp, ignore_errors=True)
        failed = storage_error(error, final, size=written)  # a full disk: name the version, not the temp folder
        if failed is None:
            raise
        raise failed from error
    write_models_config(base)
    return final


def list_versions(model_dir):
    """The numeric version folders of `model_dir`, as sorted ints (what TF Serving would load)."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and re.fullmatch(r"[0-9]+", p.name))


def write_models_config(base):
    """Add every model folder under `base` to `base/models.config` (a model_config_list text proto).

    Entries already there are kept as they are (edit them freely); new models get
    base_path "/models/NAME" (the container path of docs/serving.md's `docker run`) and serve
    all their versions. Returns the file's path.

    Example:
        write_models_config("saved_models")
    """
    from google.protobuf import text_format

    from keras_resnet_cifar.serving.protos import ModelServerConfig

    path = pathlib.Path(base) / MODELS_CONFIG
    config = ModelServerConfig()
    if path.exists():
        try:
            text_format.Parse(path.read_text(encoding="utf-8"), config)
        except text_format.ParseError as error:
            raise UserError(f"{path} is not a model_config_list text proto ({error}); fix or delete it, "
                             "the next export rewrites it") from None
    known = {entry.name for entry in config.model_config_list.config}
    for model_dir in sorted(pathlib.Path(base).iterdir()):
        if model_dir.is_dir() and model_dir.name not in known and list_versions(model_dir):
            entry = config.model_config_list.config.add(
                name=model_dir.name, base_path=f"/models/{model_dir.name}", model_platform="tensorflow")
            entry.model_version_policy.all.SetInParent()
    write_text(path, text_format.MessageToString(config))
    return path


def _parse_version(version):
    if version is None:
        return None
    if isinstance(version, bool) or not (isinstance(version, int) or re.fullmatch(r"[0-9]+", str(version))) \
            or int(version) < 1:
        raise UserError(f"version: received {version!r}; accepted: a positive integer (TF Serving loads only "
                         "numeric folders), e.g. --version 3, or none for the next free version")
    return int(version)


def _write_version(folder, loaded, name, version):
    import keras
    import tensorflow as tf

    from keras_resnet_cifar import __version__
    from keras_resnet_cifar.serving.signatures import build_export_archive
    from keras_resnet_cifar.serving.warmup import write_warmup

    archive = build_export_archive(loaded.model, loaded.class_names, loaded.data)
    archive.write_out(str(folder), verbose=False)
    image_shape = tuple(int(size) for size in loaded.model.input_shape[1:])
    write_warmup(folder, name, image_shape)  # inside the temp folder: it arrives with the rename
    write_text(folder / "class_names.json", json.dumps(list(loaded.class_names), indent=2) + "\n")
    if loaded.train_config is not None:
        write_text(folder / "config.json", json.dumps(loaded.train_config, indent=2, sort_keys=True) + "\n")
    info = {
        "model_name": name,
        "version": version,
        "source": os.path.abspath(loaded.model_path),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "image_shape": list(image_shape),
        "num_classes": len(loaded.class_names),
        "preprocessing": {"scale": "x / 255", "normalize": loaded.data.normalize, "mean": list(loaded.data.mean),
                          "std": list(loaded.data.std), "notes": list(loaded.notes)},
        "signatures": {"serving_default": "images uint8 (batch, H, W, 3)",
                       "serving_bytes": "image_bytes string (batch,): encoded PNG/JPEG",
                       "outputs": "probabilities float32 (batch, C), class_ids int64 (batch,), "
                                  "class_names string (batch,)"},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "keras_resnet_cifar": __version__},
    }
    write_text(folder / "export.json", json.dumps(info, indent=2) + "\n")


def _move_into_place(temp, final, force):
    if not final.exists():
        os.rename(temp, final)  # atomic on one file system; fails if another export took the name
        return
    if not force:
        raise UserFileExistsError(f"version: {final} appeared during the export; rerun to take the next version")
    # No rename replaces a non-empty folder: move the old one aside (a non-numeric name TF
    # Serving ignores), put the new one in place, then delete the old one.
    old = pathlib.Path(tempfile.mkdtemp(prefix=f".replaced-{final.name}-", dir=final.parent))
    os.rename(final, old / "v")
    os.rename(temp, final)
    shutil.rmtree(old, ignore_errors=True)
