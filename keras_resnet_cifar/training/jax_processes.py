"""`--strategy multiworker` on the JAX backend: Keras's `keras.distribution.DataParallel` across processes.

The cluster is the one TF_CONFIG describes (the same command on either backend): its first task is JAX's
coordinator, and `keras.distribution.initialize` starts `jax.distributed` with it before JAX does anything
else. Every process then sees the devices of all of them; the weights are replicated on each, and each
process feeds its own part of every global batch (`ProcessPart`), which JAX assembles into the global batch
(so BatchNormalization's statistics are those of the global batch, as on one machine).
"""
import keras


class DataParallelProcesses:
    """The JAX backend's multi-process strategy: `scope()` is the `DataParallel` distribution's, under which
    the model is built and trained; `part` is (this process's index, the number of processes).

    Args:
        task: this process's `runtime.Task` in the cluster.
    """

    def __init__(self, task):
        keras.distribution.initialize(",".join(task.addresses), num_processes=len(task.addresses),
                                      process_id=task.process)
        import jax

        # Each process's batches are its own part already: Keras must not shard them again.
        self.distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
        self.num_replicas_in_sync = jax.device_count()
        self.part = (jax.process_index(), jax.process_count())

    def scope(self):
        return self.distribution.scope()


class ProcessPart(keras.utils.PyDataset):
    """This process's part of every batch of `batches` (a `keras.utils.PyDataset` of global batches): the
    `index`-th of `count` equal ranges of its rows. A batch whose rows do not divide by `count` (a
    validation split's last) leaves out its last rows, since the global batch is split evenly.

    Args:
        batches: the global batches (`data.loader.make_loader`).
        index, count: this process's place among the `count` processes.
    """

    def __init__(self, batches, index, count):
        super().__init__(workers=batches.workers, max_queue_size=batches.max_queue_size)
        self.batches, self.index, self.count = batches, index, count

    @property
    def num_batches(self):
        return self.batches.num_batches

    def __len__(self):
        return self.batches.num_batches

    def __getitem__(self, index):
        x, y = self.batches[index]
        size = len(x) // self.count
        part = slice(self.index * size, (self.index + 1) * size)
        return x[part], y[part]
