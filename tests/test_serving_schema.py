"""The served interface is written once (serving/schema.py): the signatures produce it, the clients parse it."""
import numpy as np
import pytest

from keras_resnet_cifar.serving.client import ServingError, parse_rest_response
from keras_resnet_cifar.serving.schema import OUTPUT_NAMES, OUTPUTS, as_outputs


def test_the_signatures_return_exactly_the_schema_outputs_with_its_dtypes_and_ranks():
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    from keras_resnet_cifar import build_resnet
    from keras_resnet_cifar.serving.signatures import serving_functions

    model = build_resnet([1], [4], num_classes=3, input_shape=(8, 8, 3), pool_size=2)
    function = serving_functions(model, ["cat", "dog", "ship"])["serving_default"]
    result = function(tf.zeros((2, 8, 8, 3), tf.uint8))
    assert sorted(result) == sorted(OUTPUT_NAMES)
    for name, output in OUTPUTS.items():
        assert result[name].dtype.as_datatype_enum == types_pb2.DataType.Value(output.dtype), name
        assert len(result[name].shape) == output.rank, name
    parsed = as_outputs({name: value.numpy() for name, value in result.items()})
    assert parsed["class_names"] == [["cat", "dog", "ship"][i] for i in parsed["class_ids"]]


def test_rest_rows_parse_to_the_schema_types_and_a_missing_output_is_named():
    body = {"predictions": [{"probabilities": [0.1, 0.9], "class_ids": 1, "class_names": "dog"},
                            {"probabilities": [0.7, 0.3], "class_ids": 0, "class_names": "cat"}]}
    parsed = parse_rest_response(body)
    assert parsed["probabilities"].dtype == np.float32 and parsed["probabilities"].shape == (2, 2)
    assert parsed["class_ids"].dtype == np.int64 and parsed["class_names"] == ["dog", "cat"]
    del body["predictions"][0]["class_ids"]
    with pytest.raises(ServingError, match=r"outputs \['class_ids'\] missing"):
        parse_rest_response(body)
