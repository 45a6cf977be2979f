"""Training: `train(config, workdir)` and what it stands on.

- `train.py`: the main job (build, compile, fit with resume, evaluate the best checkpoint).
- `optimizers.py`, `schedules.py`: the study's optimizers and learning-rate schedules.
- `callbacks.py`, `checkpoint.py`, `rundir.py`: what a run writes, atomically, and resumes from.
- `data_checks.py`: the config checked against its data before training starts.
- `runtime.py`: devices, mixed precision, XLA, tf.distribute, determinism.
- `evaluate.py`: test evaluation, confusion matrix, metrics.
"""
