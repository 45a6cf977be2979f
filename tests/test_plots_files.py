"""The figures drawn from run folders and from a spec, called directly (no command line)."""
import pytest

from keras_resnet_cifar.plots.history import plot_run_folders, run_label


def _history(folder, rows):
    folder.mkdir(parents=True)
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy"] + [f"{e},{1 / (e + 1)},{e / 10},{1.5 / (e + 1)},{e / 12}"
                                                             for e in range(rows)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_run_labels_keep_the_seed_folder_and_its_experiment():
    assert run_label("runs/orderings/e/seed1") == "e/seed1"
    assert run_label("runs/main/") == "main"


def test_one_run_folder_is_its_history_and_several_are_overlaid(tmp_path):
    one = plot_run_folders([_history(tmp_path / "exp" / "seed0", 3)])
    assert one._suptitle.get_text() == "exp/seed0" and len(one.axes) == 2
    two = plot_run_folders([tmp_path / "exp" / "seed0", _history(tmp_path / "other", 2)])
    assert [line.get_label() for line in two.axes[0].get_lines()][:2] == ["exp/seed0 train", "other train"]
    with pytest.raises(FileNotFoundError, match="missing.*history.csv.*does not exist; accepted: run folders"):
        plot_run_folders([tmp_path / "missing"])


def test_the_architecture_figure_is_the_drawing_at_its_pixel_size(monkeypatch):
    import numpy as np
    from matplotlib.image import imsave

    import keras_resnet_cifar.plots.architecture as architecture
    from keras_resnet_cifar.spec import ResNetSpec

    drawn = []

    def fake_plot(spec, path):  # plot_model needs pydot and Graphviz; the figure's part is what is tested
        drawn.append(spec)
        imsave(path, np.zeros((120, 300, 3)))

    monkeypatch.setattr(architecture, "plot_architecture", fake_plot)
    spec = ResNetSpec.from_preset("tiny")
    fig = architecture.architecture_figure(spec)
    assert drawn == [spec] and tuple(fig.get_size_inches() * fig.dpi) == (300, 120)
