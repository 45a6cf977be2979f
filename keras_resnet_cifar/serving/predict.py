"""Image files -> a TF Serving server -> printed top classes (what `keras-resnet-cifar predict` does)."""
import io
import json
import os
from urllib.parse import urlparse

import numpy as np

from keras_resnet_cifar.serving.client import GrpcClient, RestClient
from keras_resnet_cifar.serving.schema import DEFAULT_MODEL_NAME
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError


def make_client(server, model=DEFAULT_MODEL_NAME, *, version=None, timeout=30.0):
    """A `RestClient` for http(s)://HOST:PORT, a `GrpcClient` for grpc://HOST:PORT.

    Example:
        make_client("http://localhost:8501", "resnet_cifar").predict(images)
    """
    parsed = urlparse(server)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return RestClient(server, model, version=version, timeout=timeout)
    if parsed.scheme == "grpc" and parsed.netloc:
        return GrpcClient(parsed.netloc, model, version=version, timeout=timeout)
    raise UserError(f"server: received {server!r}; accepted: http://HOST:8501 (REST) or grpc://HOST:8500 (gRPC)")


def read_images(paths, signature):
    """The files' bytes for serving_bytes, or their decoded uint8 RGB pixels (N, H, W, 3) for serving_default.

    Every file is checked here first (it exists, is not empty, decodes as an image), so a bad file is
    refused locally, by name, before anything is sent to the server.
    """
    from PIL import Image, UnidentifiedImageError

    images, contents = [], []
    for path in paths:
        if not os.path.isfile(path):
            raise UserFileNotFoundError(f"image: {path} does not exist; accepted: PNG or JPEG files")
        with open(path, "rb") as handle:
            contents.append(handle.read())
        if not contents[-1]:
            raise UserError(f"image: {path} is empty (0 bytes); accepted: PNG or JPEG files")
        try:
            with Image.open(io.BytesIO(contents[-1])) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise UserError(f"image: {path} is not a readable image ({error}); accepted: PNG or JPEG files") from None
        if signature != "serving_bytes" and images[-1].shape != images[0].shape:
            raise UserError(f"image: {path} is {images[-1].shape[1]}x{images[-1].shape[0]} but {paths[0]} is "
                             f"{images[0].shape[1]}x{images[0].shape[0]}; accepted: images of the model's size")
    return contents if signature == "serving_bytes" else np.stack(images)


def predict_files(paths, server, *, model=DEFAULT_MODEL_NAME, version=None, signature="serving_bytes", timeout=30.0):
    """Send the image files at `paths` to `server` in one batch; returns the client's prediction dict.

    Example:
        predict_files(["cat.png"], "http://localhost:8501")["class_names"]
    """
    client = make_client(server, model, version=version, timeout=timeout)
    return client.predict(read_images(paths, signature), signature=signature)


def format_predictions(paths, result, *, top=3, class_names_file=None):
    """One line per image: `PATH: name prob, name prob, ...`, most probable first.

    The server names the top class; runners-up are named from `class_names_file` (the
    export's class_names.json) when given, else shown as `#ID`.
    """
    if top < 1:
        raise UserError(f"top: received {top}; accepted: an integer >= 1")
    names = None
    if class_names_file:
        with open(class_names_file, encoding="utf-8") as handle:
            names = json.load(handle)
        if not isinstance(names, list) or len(names) != result["probabilities"].shape[1]:
            raise UserError(f"class names: {class_names_file} does not list {result['probabilities'].shape[1]} "
                             "names; accepted: the export's class_names.json")
    lines = []
    for path, row, top_name in zip(paths, result["probabilities"], result["class_names"]):
        ranked = np.argsort(-row, kind="stable")[:top]
        labels = [top_name if rank == 0 else (names[i] if names else f"#{i}") for rank, i in enumerate(ranked)]
        lines.append(f"{path}: " + ", ".join(f"{label} {row[i]:.3f}" for label, i in zip(labels, ranked)))
    return "\n".join(lines)
