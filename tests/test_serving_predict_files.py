"""`predict` refuses a bad image file locally, naming it, before contacting any server (issue 18)."""
import numpy as np
import pytest
from PIL import Image

from keras_resnet_cifar.serving.predict import predict_files, read_images


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "cat.png"
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(good)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    return str(good), str(empty), str(text)


@pytest.mark.parametrize("signature", ["serving_bytes", "serving_default"])
def test_empty_and_text_files_are_refused_by_name(files, signature):
    good, empty, text = files
    with pytest.raises(ValueError, match=f"image: {empty} is empty \\(0 bytes\\); accepted: PNG or JPEG"):
        read_images([good, empty], signature)
    with pytest.raises(ValueError, match=f"image: {text} is not a readable image .*accepted: PNG or JPEG"):
        read_images([good, text], signature)
    found = read_images([good], signature)
    assert (found[0][:8] == b"\x89PNG\r\n\x1a\n") if signature == "serving_bytes" else found.shape == (1, 32, 32, 3)


def test_predict_files_refuses_before_any_request(files):
    good, empty, _ = files
    # Port 9 (discard) on loopback: a request would fail with a connection error, not this message.
    with pytest.raises(ValueError, match="is empty"):
        predict_files([good, empty], "http://127.0.0.1:9")
