"""The TF Serving protobuf messages the exporter writes, without tensorflow-serving-api.

Warmup records (`PredictionLog`) and `models.config` (`ModelServerConfig`) are plain
protobuf, so the core install (tensorflow brings `protobuf` and `TensorProto`) can write
them. The messages below copy the field names, numbers and types of TF Serving's .proto
files (tensorflow_serving/apis/{model,predict,prediction_log}.proto and
tensorflow_serving/config/{model_server_config,file_system_storage_path_source,
logging_config,log_collector_config}.proto), so their bytes and text format are TF
Serving's; fields this package never writes (responses, other log types, `Any` configs) are
left out. They live under their own package name, so they never clash with
tensorflow-serving-api's classes in one process. tests/test_export.py checks them against
tensorflow-serving-api when it is installed.

Example:
    log = PredictionLog(predict_log={"request": {"model_spec": {"name": "resnet_cifar"}}})
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf import wrappers_pb2  # noqa: F401  registers google/protobuf/wrappers.proto
from tensorflow.core.framework import tensor_pb2  # noqa: F401  registers tensor.proto, a dependency

_PROTO = """
name: "keras_resnet_cifar/serving/tf_serving.proto" package: "keras_resnet_cifar.tf_serving" syntax: "proto3"
dependency: "tensorflow/core/framework/tensor.proto" dependency: "google/protobuf/wrappers.proto"
message_type { name: "ModelSpec"
  field { name: "name" number: 1 type: TYPE_STRING }
  field { name: "version" number: 2 type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value" oneof_index: 0 }
  field { name: "version_label" number: 4 type: TYPE_STRING oneof_index: 0 }
  field { name: "signature_name" number: 3 type: TYPE_STRING }
  oneof_decl { name: "version_choice" } }
message_type { name: "PredictRequest"
  field { name: "model_spec" number: 1 type: TYPE_MESSAGE type_name: "ModelSpec" }
  field { name: "inputs" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "PredictRequest.InputsEntry" }
  field { name: "output_filter" number: 3 label: LABEL_REPEATED type: TYPE_STRING }
  nested_type { name: "InputsEntry" options { map_entry: true }
    field { name: "key" number: 1 type: TYPE_STRING }
    field { name: "value" number: 2 type: TYPE_MESSAGE type_name: ".tensorflow.TensorProto" } } }
message_type { name: "PredictLog" field { name: "request" number: 1 type: TYPE_MESSAGE type_name: "PredictRequest" } }
message_type { name: "PredictionLog"
  field { name: "predict_log" number: 6 type: TYPE_MESSAGE type_name: "PredictLog" oneof_index: 0 }
  oneof_decl { name: "log_type" } }

message_type { name: "ModelServerConfig"
  field { name: "model_config_list" number: 1 type: TYPE_MESSAGE type_name: "ModelConfigList" } }
message_type { name: "ModelConfigList"
  field { name: "config" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "ModelConfig" } }
message_type { name: "ModelConfig"
  field { name: "name" number: 1 type: TYPE_STRING }
  field { name: "base_path" number: 2 type: TYPE_STRING }
  field { name: "model_type" number: 3 type: TYPE_ENUM type_name: "ModelType" }
  field { name: "model_platform" number: 4 type: TYPE_STRING }
  field { name: "logging_config" number: 6 type: TYPE_MESSAGE type_name: "LoggingConfig" }
  field { name: "model_version_policy" number: 7 type: TYPE_MESSAGE type_name: "ServableVersionPolicy" }
  field { name: "version_labels" number: 8 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: "ModelConfig.VersionLabelsEntry" }
  nested_type { name: "VersionLabelsEntry" options { map_entry: true }
    field { name: "key" number: 1 type: TYPE_STRING } field { name: "value" number: 2 type: TYPE_INT64 } } }
enum_type { name: "ModelType" value { name: "MODEL_TYPE_UNSPECIFIED" number: 0 }
  value { name: "TENSORFLOW" number: 1 } value { name: "OTHER" number: 2 } }
message_type { name: "ServableVersionPolicy"
  field { name: "latest" number: 100 type: TYPE_MESSAGE type_name: "ServableVersionPolicy.Latest" oneof_index: 0 }
  field { name: "all" number: 101 type: TYPE_MESSAGE type_name: "ServableVersionPolicy.All" oneof_index: 0 }
  field { name: "specific" number: 102 type: TYPE_MESSAGE type_name: "ServableVersionPolicy.Specific" oneof_index: 0 }
  nested_type { name: "Latest" field { name: "num_versions" number: 1 type: TYPE_UINT32 } }
  nested_type { name: "All" }
  nested_type { name: "Specific" field { name: "versions" number: 1 label: LABEL_REPEATED type: TYPE_INT64 } }
  oneof_decl { name: "policy_choice" } }
message_type { name: "LoggingConfig"
  field { name: "log_collector_config" number: 1 type: TYPE_MESSAGE type_name: "LogCollectorConfig" }
  field { name: "sampling_config" number: 2 type: TYPE_MESSAGE type_name: "SamplingConfig" } }
message_type { name: "LogCollectorConfig"
  field { name: "type" number: 1 type: TYPE_STRING } field { name: "filename_prefix" number: 2 type: TYPE_STRING } }
message_type { name: "SamplingConfig"
  field { name: "sampling_rate" number: 1 type: TYPE_DOUBLE }
  field { name: "attributes" number: 2 type: TYPE_INT32 }
  field { name: "per_task_sampling_configs" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: "PerTaskSamplingConfig" } }
message_type { name: "PerTaskSamplingConfig"
  field { name: "dc" number: 1 type: TYPE_STRING } field { name: "task_index" number: 2 type: TYPE_INT32 }
  field { name: "sampling_rate" number: 3 type: TYPE_DOUBLE } }
"""


def _message_classes():
    """{name: class} of the messages above, added once to the default pool (where tensor.proto lives)."""
    pool = descriptor_pool.Default()
    proto = text_format.Parse(_PROTO, descriptor_pb2.FileDescriptorProto())
    try:
        file = pool.FindFileByName(proto.name)  # already added: the module was imported again
    except KeyError:
        file = pool.AddSerializedFile(proto.SerializeToString())
    return {name: message_factory.GetMessageClass(message) for name, message in file.message_types_by_name.items()}


_CLASSES = _message_classes()
PredictionLog = _CLASSES["PredictionLog"]
PredictRequest = _CLASSES["PredictRequest"]
ModelServerConfig = _CLASSES["ModelServerConfig"]
