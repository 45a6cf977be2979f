"""The serving signatures of an exported model, built with Keras 3's `ExportArchive`.

`serving_default` takes uint8 pixels, `serving_bytes` encoded PNG/JPEG files. Both bake in
the training normalization, add the softmax the model leaves out (it outputs logits), and
check their inputs inside the graph, so a wrong image fails with a clear message in TF
Serving too, never with a silently wrong answer.

An empty batch is refused, not answered with empty outputs: `images` must have shape
[N, H, W, 3] and `image_bytes` shape [N], with N >= 1 (an image without its batch axis is
refused the same way). Each element of `image_bytes` must start like a PNG, JPEG, GIF, BMP
or WebP file; anything else is refused naming its index.
"""
import keras
import tensorflow as tf

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.serving.schema import OUTPUT_NAMES, SIGNATURE_INPUTS


def build_export_archive(model, class_names, data=DataConfig()):
    """A `keras.export.ExportArchive` of `model` with the `serving_default` and `serving_bytes` signatures.

    Args: as `serving_functions`.

    Example:
        archive = build_export_archive(model, CIFAR10_CLASSES, config.data)
        archive.write_out("saved_models/resnet_cifar/1", verbose=False)
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = serving_functions(model, class_names, data)
    for name, function in functions.items():  # serving_default first: TF Serving's default
        archive.add_endpoint(name, function)
    return archive


def serving_functions(model, class_names, data=DataConfig()):
    """The two signatures as `tf.function`s with input signatures: {"serving_default": ..., "serving_bytes": ...}.

    Args:
        model: a Keras model taking float images (batch, H, W, 3) and outputting logits (batch, C).
        class_names: sequence of C strings, in label order.
        data: the training's `DataConfig`: its preprocessing (`DataConfig.pixel_affine`: x / 255, then
            (x - mean) / std when normalizing) is applied to the uint8 pixels. Default `DataConfig()`.

    Example:
        functions = serving_functions(model, CIFAR10_CLASSES, config.data)
        functions["serving_default"](images)["class_names"]  # images: uint8 (N, 32, 32, 3)
    """
    height, width, channels = (int(size) for size in model.input_shape[1:])
    names = tf.constant([str(name) for name in class_names])
    scale, offset = (tf.constant(v, tf.float32) for v in data.pixel_affine())

    def predict(images):
        shape = tf.shape(images)
        ok = _shape_reads(shape, rf"\[[1-9][0-9]* {height} {width} {channels}\]")
        images = _refuse_unless(ok, tf.strings.format(
            f"images: received shape {{}}; accepted: uint8 [N, {height}, {width}, {channels}] with N >= 1 "
            f"(pixels 0..255). Give one image a batch axis ([{height}, {width}, {channels}] -> "
            f"[1, {height}, {width}, {channels}]), send at least one image, resize to {height}x{width}", [shape]),
            images)
        x = tf.cast(images, tf.float32) * scale - offset
        probabilities = tf.nn.softmax(tf.cast(model(x, training=False), tf.float32), axis=-1)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return dict(zip(OUTPUT_NAMES, (probabilities, class_ids, tf.gather(names, class_ids))))  # schema.OUTPUTS

    def decode(item):
        encoded, index = item
        # join, not format: format quotes strings, and Assert escapes quotes
        encoded = _refuse_unless(_is_image_file(encoded), tf.strings.join([
            "image_bytes[", tf.strings.as_string(index), "] is not an image file: received ", tf.strings.as_string(
                tf.strings.length(encoded)), " bytes, starting <", _printable_head(encoded), ">; accepted: the "
            "bytes of a PNG, JPEG, GIF, BMP or WebP file (over REST, base64-encoded under the key b64)"]), encoded)
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        return _refuse_unless(
            tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width])),
            tf.strings.format(f"image_bytes[{{}}] must decode to a {height}x{width} image; it decodes to (height, "
                              f"width, channels) {{}}: resize it to {height}x{width} before sending",
                              [index, tf.shape(image)]),
            image)

    images_spec = tf.TensorSpec([None, height, width, channels], tf.uint8, name=SIGNATURE_INPUTS["serving_default"])
    bytes_spec = tf.TensorSpec([None], tf.string, name=SIGNATURE_INPUTS["serving_bytes"])

    @tf.function(input_signature=[images_spec])
    def serving_default(images):
        return predict(images)

    @tf.function(input_signature=[bytes_spec])
    def serving_bytes(image_bytes):
        shape = tf.shape(image_bytes)
        image_bytes = _refuse_unless(_shape_reads(shape, r"\[[1-9][0-9]*\]"), tf.strings.format(
            "image_bytes: received shape {}; accepted: string [N] with N >= 1, one encoded PNG/JPEG file per "
            "element (one file is [1], not a scalar)", [shape]), image_bytes)
        indices = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
        images = tf.map_fn(decode, (image_bytes, indices),
                           fn_output_signature=tf.TensorSpec([height, width, channels], tf.uint8))
        return predict(images)

    return {"serving_default": serving_default, "serving_bytes": serving_bytes}


def _shape_reads(shape, pattern):
    """Whether `shape` (an int tensor), printed as "[2 32 32 3]", matches the regular expression `pattern`.

    Grappler trusts the declared input shape, so it folds rank checks such as
    tf.size(tf.shape(x)) == 4 into True, yet TF Serving feeds tensors of any rank. The
    printed shape depends on the values alone, so nothing can fold this check away.
    """
    return tf.strings.regex_full_match(tf.strings.format("{}", shape, summarize=-1), pattern)


# Leading bytes (at offset 0, or 8 for WebP's RIFF container) that tf.io.decode_image recognizes.
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM")


def _is_image_file(encoded):
    """Whether the string tensor `encoded` starts like an image file decode_image can read."""
    head = tf.strings.substr(tf.strings.join([encoded, b"\0" * 12]), 0, 12)  # substr past the end would fail
    webp = tf.logical_and(tf.equal(tf.strings.substr(head, 0, 4), b"RIFF"),
                          tf.equal(tf.strings.substr(head, 8, 4), b"WEBP"))
    known = [tf.equal(tf.strings.substr(head, 0, len(magic)), magic) for magic in _MAGIC]
    return tf.reduce_any(tf.stack([webp, *known]))


def _printable_head(encoded, size=12):
    """The first `size` bytes of `encoded`, non-ASCII and control bytes shown as '?' (safe in a JSON error)."""
    head = tf.io.decode_raw(tf.strings.substr(encoded, 0, tf.minimum(size, tf.strings.length(encoded))), tf.uint8)
    printable = tf.logical_and(head >= 32, head < 127)
    return tf.strings.unicode_encode(tf.cast(tf.where(printable, head, ord("?")), tf.int32), "UTF-8")


def _refuse_unless(ok, message, value):
    """`value` once `ok` holds; otherwise fail the request with `message` (a string tensor).

    TF Serving feeds tensors without checking them against the signature's shape, and
    independent ops may run in any order, so a bare Assert can lose the race to a kernel's
    cryptic shape error. The control dependency makes every op that reads `value` wait for
    the Assert, so no op ever sees a wrongly shaped tensor.
    """
    with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
        return tf.identity(value)
