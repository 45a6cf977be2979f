"""The serving signatures of an exported model, built with Keras 3's `ExportArchive`.

`serving_default` takes uint8 pixels, `serving_bytes` encoded PNG/JPEG files. Both bake in
the training normalization, add the softmax the model leaves out (it outputs logits), and
check their inputs inside the graph, so a wrong image fails with a clear message in TF
Serving too, never with a silently wrong answer.
"""
import keras
import tensorflow as tf

from keras_resnet_cifar.serving.client import SIGNATURE_INPUTS


def build_export_archive(model, class_names, *, normalize=True, mean=None, std=None):
    """A `keras.export.ExportArchive` of `model` with the `serving_default` and `serving_bytes` signatures.

    Args: as `serving_functions`.

    Example:
        archive = build_export_archive(model, CIFAR10_CLASSES, mean=CIFAR10_MEAN, std=CIFAR10_STD)
        archive.write_out("saved_models/resnet_cifar/1", verbose=False)
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = serving_functions(model, class_names, normalize=normalize, mean=mean, std=std)
    for name, function in functions.items():  # serving_default first: TF Serving's default
        archive.add_endpoint(name, function)
    return archive


def serving_functions(model, class_names, *, normalize=True, mean=None, std=None):
    """The two signatures as `tf.function`s with input signatures: {"serving_default": ..., "serving_bytes": ...}.

    Args:
        model: a Keras model taking float images (batch, H, W, 3) and outputting logits (batch, C).
        class_names: sequence of C strings, in label order.
        normalize: bool, whether training normalized pixels as (x / 255 - mean) / std; when
            False the model saw x / 255. Default True.
        mean: per-channel mean in [0, 1] units (3 floats); needed when `normalize`.
        std: per-channel standard deviation in [0, 1] units (3 floats); needed when `normalize`.

    Example:
        functions = serving_functions(model, CIFAR10_CLASSES, mean=CIFAR10_MEAN, std=CIFAR10_STD)
        functions["serving_default"](images)["class_names"]  # images: uint8 (N, 32, 32, 3)
    """
    height, width, channels = (int(size) for size in model.input_shape[1:])
    names = tf.constant([str(name) for name in class_names])
    if normalize:
        mean = tf.constant(mean, tf.float32)
        std = tf.constant(std, tf.float32)

    def predict(images):
        images = _refuse_unless(
            tf.reduce_all(tf.equal(tf.shape(images)[1:], [height, width, channels])),
            tf.strings.format(f"images must have shape (batch, {height}, {width}, {channels}); received {{}}",
                              [tf.shape(images)]),
            images)
        x = tf.cast(images, tf.float32) / 255.0
        if normalize:
            x = (x - mean) / std
        probabilities = tf.nn.softmax(tf.cast(model(x, training=False), tf.float32), axis=-1)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {"probabilities": probabilities, "class_ids": class_ids,
                "class_names": tf.gather(names, class_ids)}

    def decode(item):
        encoded, index = item
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
        indices = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
        images = tf.map_fn(decode, (image_bytes, indices),
                           fn_output_signature=tf.TensorSpec([height, width, channels], tf.uint8))
        return predict(images)

    return {"serving_default": serving_default, "serving_bytes": serving_bytes}


def _refuse_unless(ok, message, value):
    """`value` once `ok` holds; otherwise fail the request with `message` (a string tensor).

    TF Serving feeds tensors without checking them against the signature's shape, and
    independent ops may run in any order, so a bare Assert can lose the race to a kernel's
    cryptic shape error. The control dependency makes every op that reads `value` wait for
    the Assert, so no op ever sees a wrongly shaped tensor.
    """
    with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
        return tf.identity(value)
