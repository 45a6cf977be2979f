"""The study's comparisons (Figures 4-9): grids as data (`grids.py`) and their runner (`runner.py`).

An experiment is a grid of cells (model preset x variant). `run_experiment` trains every
cell x seed as an ordinary `train()` run, skips finished ones, and writes results.csv (mean
and std over seeds per cell), the comparison figure and experiment.json (the command).
"""
from keras_resnet_cifar.experiments.grids import (ACTIVATION_GRID, EXPERIMENTS, STUDY_PRESETS, Cell, Experiment,
                                                  Variant, experiment_cells, get_experiment)
from keras_resnet_cifar.experiments.runner import RECORD, RESULT_COLUMNS, RESULTS, read_results, run_dir, run_experiment

__all__ = ["ACTIVATION_GRID", "EXPERIMENTS", "RECORD", "RESULT_COLUMNS", "RESULTS", "STUDY_PRESETS", "Cell",
           "Experiment", "Variant", "experiment_cells", "get_experiment", "read_results", "run_dir", "run_experiment"]
