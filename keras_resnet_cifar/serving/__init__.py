"""Export for TF Serving and clients of the served model.

- `export.py`: `export_model`, versioned atomic SavedModels (`signatures.py`: the uint8 and
  encoded-image signatures; `source.py`: what a run directory or `.keras` file provides;
  `warmup.py`: TF Serving's warmup records; `protos.py`: the TF Serving messages written,
  without tensorflow-serving-api).
- `check.py`: `check_export`, the local proof that TF Serving will accept an export.
- `client.py`: `RestClient` and `GrpcClient`; `predict.py`: the `predict` command's helpers.
- `schema.py`: the served interface (input names, output names, dtypes and ranks), written once.

Importing this package is cheap: TensorFlow loads only with the exporter, and the REST
client needs only the standard library and NumPy.

Example:
    >>> from keras_resnet_cifar.serving import RestClient
    >>> RestClient("http://localhost:8501", "resnet24").predict(images)
"""
from keras_resnet_cifar.lazy import lazy_exports

_LAZY = {name: f"keras_resnet_cifar.serving.{module}" for name, module in {
    "RestClient": "client", "GrpcClient": "client", "ServingError": "client",
    "rest_request_body": "client", "make_predict_request": "client",
    "export_model": "export", "check_export": "check", "ExportCheckError": "check",
}.items()}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
