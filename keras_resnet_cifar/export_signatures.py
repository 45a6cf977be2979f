"""The serving signatures of an exported model, built with Keras 3's `ExportArchive`.

`serving_default` takes uint8 pixels, `serving_bytes` encoded PNG/JPEG files. Both bake in
the training normalization, add the softmax the model leaves out (it outputs logits), and
check their inputs inside the graph, so a wrong image fails with a clear message in TF
Serving too, never with a silently wrong answer.
"""
import keras
import tensorflow as tf

from keras_resnet_cifar.serving import SIGNATURE_INPUTS


def build_export_archive(model, class_names, *, normalize=True, mean=None, std=None):
    """A `keras.export.ExportArchive` of `model` with the `serving_default` and `serving_bytes` signatures.

    Args:
        model: a Keras model taking float images (batch, H, W, 3) and outputting logits (batch, C).
        class_names: sequence of C strings, in label order.
        normalize: bool, whether training normalized pixels as (x / 255 - mean) / std; when
            False the model saw x / 255. Default True.
        mean: per-channel mean in [0, 1] units (3 floats); needed when `normalize`.
        std: per-channel standard deviation in [0, 1] units (3 floats); needed when `normalize`.

    Example:
        archive = build_export_archive(model, CIFAR10_CLASSES, mean=CIFAR10_MEAN, std=CIFAR10_STD)
        archive.write_out("saved_models/resnet_cifar/1", verbose=False)
    """
    height, width, channels = (int(size) for size in model.input_shape[1:])
    names = tf.constant([str(name) for name in class_names])
    if normalize:
        mean = tf.constant(mean, tf.float32)
        std = tf.constant(std, tf.float32)

    def predict(images):
        check = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(images)[1:], [height, width, channels])),
            [f"images must have shape (batch, {height}, {width}, {channels}); received", tf.shape(images)],
            name="check_image_shape")
        with tf.control_dependencies([check]):  # TF Serving does not check shapes against the signature
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
        check = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width])),
            ["image_bytes[", index, f"] must decode to a {height}x{width} image; it is (height, width, "
             "channels) =", tf.shape(image), f"- resize it to {height}x{width} before sending"],
            name="check_decoded_size")
        with tf.control_dependencies([check]):
            return tf.ensure_shape(tf.identity(image), [height, width, channels])

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

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_default)
    archive.add_endpoint("serving_bytes", serving_bytes)
    return archive
