"""Figure 10 (plot_augmentations) and `keras-resnet-cifar plot augmentations`."""
import numpy as np
import pytest
from PIL import Image

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.data import from_arrays
from keras_resnet_cifar.plots.augmentations import plot_augmentations
from data_helpers import write_image_folder


def test_figure_has_one_row_per_image_and_one_column_per_transform():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    y = np.arange(12) % 3
    data = from_arrays(x, y, x, y, class_names=["ant", "bee", "cow"], val_fraction=0)
    fig = plot_augmentations(data, count=3)
    axes = fig.get_axes()
    assert len(axes) == 3 * 7
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    assert titles[:3] == ["original", "noise (std 1)", "crop (pad 4)"] and titles[-1].startswith("mixup (λ = ")
    assert [ax.get_ylabel() for ax in axes if ax.get_ylabel()] == ["ant", "bee", "cow"]  # one per class first
    shown = axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(shown, x[0] / 255.0)
    flipped = axes[3].get_images()[0].get_array()
    np.testing.assert_allclose(flipped, x[0, :, ::-1] / 255.0)
    assert len(plot_augmentations(x[:2], count=2).get_axes()) == 14  # plain arrays too


def test_bad_images_or_count_are_refused():
    with pytest.raises(ValueError, match="accepted: a CifarData, a Split or uint8 images"):
        plot_augmentations(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="count=5 for 2 images"):
        plot_augmentations(np.zeros((2, 8, 8, 3), np.uint8), count=5)


def _tree(root):
    write_image_folder(root, counts=(("train", 3), ("test", 3)), classes=("cat", "dog"))


def test_cli_writes_the_png(tmp_path, capsys):
    _tree(tmp_path / "tree")
    out = tmp_path / "fig10.png"
    code = main(["plot", "augmentations", "--data", str(tmp_path / "tree"), "--val-fraction", "0",
                 "--count", "2", "--out", str(out)])
    assert code == 0 and "written to" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > image.height > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig10.png", "tree"]  # no temp file left


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["plot", "augmentations", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "f.png")]) == 2
    assert "keras-resnet-cifar plot: error: data:" in capsys.readouterr().err
    assert main(["plot", "augmentations", "--data", str(tmp_path), "--out", str(tmp_path / "f.jpg")]) == 2
    assert "accepted: a path ending in .png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", "nosuchkind", "--out", "x.png"])


def test_a_config_draws_its_own_data_strengths_and_seed(tmp_path):
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.plots.augmentations import plot_config_augmentations

    _tree(tmp_path / "tree")
    config = TrainConfig(data={"source": str(tmp_path / "tree"), "val_fraction": 0.0,
                               "augment": {"noise_std": 0.5, "mixup_alpha": 1.0}}, seed=3)
    fig = plot_config_augmentations(config, count=2)
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
    assert len(fig.get_axes()) == 2 * 7 and titles[1] == "noise (std 0.5)"
    again = plot_config_augmentations(config, count=2)
    np.testing.assert_array_equal(fig.get_axes()[1].get_images()[0].get_array(),
                                  again.get_axes()[1].get_images()[0].get_array())  # the config's seed
