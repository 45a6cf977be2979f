"""`keras-resnet-cifar plot KIND` on a real tiny run: history, weights, confusion, Grad-CAM, the rest."""
import json
import shutil

import numpy as np
import pytest
from matplotlib.image import imread
from PIL import Image

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.config import OptimConfig, TrainConfig
from keras_resnet_cifar.spec import ResNetSpec

CLASSES = ["cat", "dog", "ship"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 2-epoch run of a tiny network on an image-folder data set of 3 classes."""
    from keras_resnet_cifar.data import load_data
    from keras_resnet_cifar.training.train import train

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 12), ("test", 5)):
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for index in range(per_class):
                image = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
                image[..., label] += 120  # a colour cue per class
                Image.fromarray(image).save(root / split / name / f"{index}.png")
    config = TrainConfig(model=ResNetSpec.from_preset("tiny", num_classes=3),
                         optim=OptimConfig(epochs=2, batch_size=9), verbose=0, histogram_freq=0)
    config = config.replace(data={"source": str(root), "val_fraction": 0.25})
    data = load_data(str(root), val_fraction=0.25, verbose=False)
    workdir = tmp_path_factory.mktemp("run") / "tiny"
    train(config, workdir, data=data)
    return workdir


def _plot(*args):
    return main(["plot", *map(str, args)])


def test_confusion_sums_to_the_test_images_with_true_classes_on_rows(run, tmp_path):
    metrics = json.loads((run / "metrics.json").read_text())
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == 15 == metrics["num_test"]
    assert matrix.sum(axis=1).tolist() == [5, 5, 5]  # rows: 5 true images per class
    assert _plot("confusion", run, "--out", tmp_path / "c.png") == 0
    assert imread(tmp_path / "c.png").ndim == 3
    from keras_resnet_cifar.plots.confusion import plot_confusion

    ax = plot_confusion(matrix, CLASSES).axes[0]
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    assert np.array_equal(ax.get_images()[0].get_array(), matrix)
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES


def test_history_of_one_run_and_of_several_overlaid(run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    assert _plot("history", run, "--out", tmp_path / "one.png") == 0
    assert _plot("history", run, other, "--out", tmp_path / "two.png") == 0
    from keras_resnet_cifar.plots.comparison import plot_runs
    from keras_resnet_cifar.plots.history import read_history

    fig = plot_runs({"tiny": read_history(run / "history.csv"), "other": read_history(other / "history.csv")})
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [
        "tiny train", "other train", "tiny validation", "other validation"]
    assert list(fig.axes[1].get_lines()[2].get_xdata()) == [1, 2]
    assert _plot("history", tmp_path / "missing", "--out", tmp_path / "x.png") == 2


def test_weights_figure_of_a_real_run_shows_every_stage(run, tmp_path):
    from keras_resnet_cifar.plots.weights import plot_weights

    fig = plot_weights(run)
    assert [ax.get_title() for ax in fig.axes] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert all(len(ax.patches) == 2 for ax in fig.axes)  # two epochs
    assert _plot("weights", run, "--out", tmp_path / "w.png") == 0


def test_gradcam_of_a_run_uses_its_data_and_draws_each_stage(run, tmp_path, capsys):
    assert _plot("gradcam", run, "--images", 2, "--out", tmp_path / "g.png") == 0
    image = imread(tmp_path / "g.png")
    assert image.shape[0] > 200 and image.shape[1] > 500  # 2 rows x (image + 4 stages)
    assert _plot("gradcam", tmp_path / "nothing", "--out", tmp_path / "x.png") == 2
    assert "best.keras" in capsys.readouterr().err


def test_activations_schedules_and_architecture_kinds(tmp_path, capsys):
    assert _plot("activations", "--out", tmp_path / "a.png") == 0
    assert _plot("schedules", "--epochs", 30, "--out", tmp_path / "s.png") == 0
    assert imread(tmp_path / "s.png").shape[1] > 400
    code = _plot("architecture", "--preset", "tiny", "--out", tmp_path / "arch.png")
    if shutil.which("dot"):
        assert code == 0 and (tmp_path / "arch.png").exists()
    else:
        assert code == 2 and "Graphviz" in capsys.readouterr().err
    assert _plot("schedules", "--out", tmp_path / "s.jpg") == 2
