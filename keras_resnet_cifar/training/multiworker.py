"""`MultiWorkerStrategy`: TensorFlow's `MultiWorkerMirroredStrategy` as Keras 3's `fit` needs it.

Keras 3 (3.15, and its main branch as of this writing; keras-team/keras#20585, tensorflow/tensorflow#72388)
calls `Strategy.reduce` in two ways that `MultiWorkerMirroredStrategy` refuses once there are two workers:

- before the first step (`TensorFlowTrainer._maybe_symbolic_build`), on the whole first batch, a tuple
  of per-replica tensors: "Attempt to convert a value (PerReplica:{...}) ... to a Tensor", since
  `reduce` takes one value, not a nest;
- after every step (`reduce_per_replica`), on each scalar metric with `axis=0`: "Invalid reduction
  dimension 0 for input with 0 dimensions".

`reduce` below does what those calls mean: one reduction per tensor of a nest, and across replicas
only (axis None) for a scalar.

And Keras 3 creates BatchNormalization's moving mean and variance without an aggregation, so each
worker would update them from its own part of the batch and the replicas would drift apart: the
chief's checkpoint would hold its statistics alone, and validation would score a different model on
each worker's part. Inside `scope()` they are created with `tf.VariableAggregation.MEAN`, as tf.keras
2 did: each update is averaged across the replicas, so every worker holds the same statistics (the
mean of the replicas' batch means, and of their variances).

Everything else is TensorFlow's: the cluster from TF_CONFIG, collective all-reduce of the gradients,
variables mirrored on every worker. TensorFlow is imported here: `runtime.make_strategy` imports this
module on that backend only.
"""
import contextlib

import keras
import tensorflow as tf

_REPLICA_STATISTICS = ("moving_mean", "moving_variance")  # BatchNormalization's variable names


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`tf.distribute.MultiWorkerMirroredStrategy` whose `reduce` takes a nest and a scalar with an axis, and
    whose scope averages BatchNormalization's moving statistics across replicas.

    Example:
        >>> strategy = MultiWorkerStrategy()  # reads TF_CONFIG; blocks until every worker has started
        >>> with strategy.scope():
        ...     model = build_model(config)
    """

    def reduce(self, reduce_op, value, axis=None):
        def one(tensor):
            scalar = self.experimental_local_results(tensor)[0].shape.rank == 0
            return super(MultiWorkerStrategy, self).reduce(reduce_op, tensor, None if scalar else axis)

        return keras.tree.map_structure(one, value)

    @contextlib.contextmanager
    def scope(self):
        with super().scope() as strategy, tf.variable_creator_scope(_averaged_statistics):
            yield strategy


def _averaged_statistics(next_creator, **kwargs):
    if kwargs.get("name") in _REPLICA_STATISTICS and kwargs.get("aggregation") in (
            None, tf.VariableAggregation.NONE):
        kwargs["aggregation"] = tf.VariableAggregation.MEAN
    return next_creator(**kwargs)
