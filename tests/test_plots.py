"""Figure functions on tiny inputs: axes, series, labels and values (Figures 4-9, 5, 7, 12)."""
import numpy as np
import pytest

from keras_resnet_cifar.plots.activations import activation_curve, plot_activations
from keras_resnet_cifar.plots.comparison import plot_experiment, plot_results, plot_runs
from keras_resnet_cifar.plots.schedules import plot_schedules
from keras_resnet_cifar.plots.weights import plot_weights, read_weight_samples


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def _history(offset, epochs=3, mixup=False):
    rows = []
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "loss": 2.0 - 0.1 * epoch + offset, "val_loss": 2.1 - 0.1 * epoch + offset,
               "val_accuracy": 0.1 * epoch + offset, "lr": 0.1 * 0.9 ** (epoch - 1)}
        row["mixup_accuracy" if mixup else "accuracy"] = 0.12 * epoch + offset
        rows.append(row)
    return rows


def test_activations_figure_has_one_panel_per_activation_and_one_curve_per_coefficient():
    grid = {"relu": (None,), "relu6": (None,), "leaky_relu": (0.01, 0.2), "elu": (0.5, 2.0), "swish": (1.0, 2.0)}
    fig = plot_activations(grid, x_range=(-8, 8), points=161)
    assert [ax.get_title() for ax in fig.axes] == ["ReLU", "ReLU6", "Leaky ReLU", "ELU", "Swish"]
    assert [len(ax.get_lines()) - 2 for ax in fig.axes] == [1, 1, 2, 2, 2]  # minus the two zero lines
    assert _labels(fig.axes[2])[:2] == ["γ (slope) = 0.01", "γ (slope) = 0.2"]
    x, relu6 = fig.axes[1].get_lines()[0].get_data()
    assert relu6.max() == pytest.approx(6.0) and relu6.min() == 0.0
    _, leaky = fig.axes[2].get_lines()[1].get_data()
    assert leaky[0] == pytest.approx(-8 * 0.2)
    _, elu = fig.axes[3].get_lines()[1].get_data()
    assert elu[0] == pytest.approx(2.0 * (np.exp(-8) - 1), abs=1e-5)
    _, swish = fig.axes[4].get_lines()[1].get_data()
    assert swish[-1] == pytest.approx(8 / (1 + np.exp(-16)), rel=1e-5)
    assert activation_curve("relu", None, np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_default_activation_figure_draws_the_experiment_grid():
    from keras_resnet_cifar.experiments import ACTIVATION_GRID

    fig = plot_activations()
    assert [len(ax.get_lines()) - 2 for ax in fig.axes] == [len(c) for c in ACTIVATION_GRID.values()]


def test_schedules_figure_follows_each_formula_over_50_epochs():
    fig = plot_schedules()
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "learning rate"
    lines = {line.get_label(): line.get_data() for line in ax.get_lines()}
    assert list(lines)[:3] == ["exponential", "step", "cosine with restarts"]
    assert list(lines)[3].startswith("reduce on plateau")
    epochs, exp = lines["exponential"]
    assert list(epochs) == list(range(1, 51))
    assert np.allclose(exp, 0.1 * 0.9 ** np.arange(50))
    _, step = lines["step"]
    assert step[19] == pytest.approx(0.1) and step[20] == pytest.approx(0.01) and step[40] == pytest.approx(0.001)
    _, cosine = lines["cosine with restarts"]
    assert cosine[19] < 0.01 and cosine[20] == pytest.approx(0.1)  # restart after 20 epochs
    with pytest.raises(ValueError, match="accepted: one or more of"):
        plot_schedules(["linear"])
    with pytest.raises(ValueError, match="epochs: received 0"):
        plot_schedules(epochs=0)


def test_runs_overlay_draws_train_dashed_and_validation_solid_per_run():
    fig = plot_runs({"sgd": _history(0.0), "adam": _history(0.05, mixup=True)})
    loss, accuracy = fig.axes
    assert _labels(loss) == ["sgd train", "adam train", "sgd validation", "adam validation"]
    assert [line.get_linestyle() for line in loss.get_lines()] == ["--", "--", "-", "-"]
    assert _labels(accuracy) == ["sgd train", "sgd validation", "adam validation"]  # no real-label train accuracy
    mixup_only = plot_runs({"mix": _history(0.0, mixup=True)}).axes[1]
    assert _labels(mixup_only) == ["mix train", "mix validation"]
    assert np.allclose(mixup_only.get_lines()[0].get_ydata(), [0.12, 0.24, 0.36])


def test_experiment_figure_averages_seeds_and_bars_show_mean_and_std():
    histories = {"tiny": {"A": [_history(0.0), _history(0.1)], "B": [_history(0.2)]},
                 "small": {"A": [_history(0.3)]}}
    rows = [
        {"group": "tiny", "label": "A", "runs": 2, "best_val_accuracy_mean": 0.5, "best_val_accuracy_std": 0.1,
         "test_accuracy_mean": 0.4, "test_accuracy_std": 0.05},
        {"group": "tiny", "label": "B", "runs": 1, "best_val_accuracy_mean": 0.6, "best_val_accuracy_std": None,
         "test_accuracy_mean": 0.55, "test_accuracy_std": None},
        {"group": "small", "label": "A", "runs": 1, "best_val_accuracy_mean": 0.7, "best_val_accuracy_std": None,
         "test_accuracy_mean": 0.65, "test_accuracy_std": None},
    ]
    fig = plot_experiment(histories, rows, curves=("val_accuracy", "lr"), title="Figure 9")
    assert len(fig.axes) == 2 * 3
    curve, lr, bars = fig.axes[:3]
    assert curve.get_title(loc="left") == "tiny" and fig.axes[3].get_title(loc="left") == "small"
    assert _labels(curve) == ["A", "B"] and curve.get_ylabel() == "validation accuracy"
    assert np.allclose(curve.get_lines()[0].get_ydata(), [0.15, 0.25, 0.35])  # mean of the two seeds
    assert len(curve.collections) == 1  # the ±std band, only for the setting with two seeds
    assert lr.get_yscale() == "log"
    heights = [patch.get_height() for patch in bars.patches]
    assert heights == pytest.approx([0.5, 0.6, 0.4, 0.55])
    assert [t.get_text() for t in bars.get_xticklabels()] == ["A", "B"]
    assert fig.get_suptitle() == "Figure 9"
    alone = plot_results(rows[:2]).axes[0]
    assert [p.get_height() for p in alone.patches] == pytest.approx([0.5, 0.6, 0.4, 0.55])


def _write_samples(folder, epochs):
    (folder / "weights").mkdir()
    rng = np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        arrays = {"groups": np.array(["stem", "stage1", "head"]), "epoch": np.int64(epoch)}
        for group, size in (("stem", 108), ("stage1", 300), ("head", 40)):
            arrays[group] = rng.normal(0, 0.1 * epoch, size).astype("float32")
        np.savez(folder / "weights" / f"epoch_{epoch:03d}.npz", **arrays)


def test_weights_figure_has_one_panel_per_group_and_one_histogram_per_epoch(tmp_path):
    _write_samples(tmp_path, epochs=5)
    samples = read_weight_samples(tmp_path)
    assert [s["epoch"] for s in samples] == [1, 2, 3, 4, 5]
    fig = plot_weights(tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["stem", "stage1", "head"]
    assert all(len(ax.patches) == 5 for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == [f"epoch {e}" for e in range(1, 6)]
    # a later epoch has a wider distribution here, so its histogram spreads further
    first, last = fig.axes[1].patches[0], fig.axes[1].patches[-1]
    assert np.max(first.get_data().values) > np.max(last.get_data().values)
    picked = plot_weights(samples, max_epochs=2)
    assert [t.get_text() for t in picked.axes[-1].get_legend().get_texts()] == ["epoch 1", "epoch 5"]
    with pytest.raises(FileNotFoundError, match="weights/epoch_"):
        plot_weights(tmp_path / "nothing")
