"""The study's experiment grids as data: cells, their configs and the schedule stretch (no training)."""
import pytest

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.experiments import ACTIVATION_GRID, EXPERIMENTS, experiment_cells
from keras_resnet_cifar.presets import PRESETS


def _by_variant(cells):
    return {cell.variant: cell.config for cell in cells}


def test_every_comparison_of_the_study_is_there():
    assert list(EXPERIMENTS) == ["optimizers", "schedules", "regularization", "activations", "orderings", "mixup"]
    assert [EXPERIMENTS[n].figure for n in ("optimizers", "schedules", "regularization", "activations", "orderings")] \
        == ["Figure 4", "Figure 5", "Figure 6", "Figure 8", "Figure 9"]


def test_optimizers_grid_is_four_optimizers_on_the_four_study_networks():
    cells = experiment_cells("optimizers")
    assert len(cells) == 16
    assert len({c.name for c in cells}) == 16
    for cell in cells:
        assert tuple(cell.config.model.blocks) == tuple(PRESETS[cell.group]["blocks"])
        assert tuple(cell.config.model.channels) == tuple(PRESETS[cell.group]["channels"])
        assert cell.config.optim.optimizer == cell.variant
        # the rest of 2.1.2: momentum 0.9, wd 1e-3, batch 128, exp 0.9, 50 epochs, no mixup
        assert (cell.config.optim.momentum, cell.config.optim.weight_decay, cell.config.optim.batch_size) == (0.9, 1e-3, 128)
        assert (cell.config.optim.schedule, cell.config.optim.gamma, cell.config.optim.epochs) == ("exp", 0.9, 50)
        assert cell.config.data.augment.mixup_alpha == 0
    assert {c.group for c in cells} == {"resnet10", "resnet16", "resnet24", "resnet48"}
    assert _by_variant(cells)["adadelta"].optim.lr == 1.0


def test_schedules_regularization_and_mixup_change_only_their_setting():
    base = TrainConfig()
    schedules = _by_variant(experiment_cells("schedules"))
    assert list(schedules) == ["exp", "step", "cosine_restarts", "plateau"]
    assert all(c.optim.schedule == name for name, c in schedules.items())
    assert schedules["step"].optim.step_gamma == 0.1 and schedules["step"].optim.step_epochs == 20
    regs = _by_variant(experiment_cells("regularization"))
    assert {name: (c.model.l1, c.optim.weight_decay) for name, c in regs.items()} == {
        "l1-1e-03": (1e-3, 0.0), "l1-1e-05": (1e-5, 0.0), "l2-1e-03": (0.0, 1e-3), "l2-1e-05": (0.0, 1e-5)}
    mixup = _by_variant(experiment_cells("mixup"))
    assert [c.data.augment.mixup_alpha for c in mixup.values()][0] == 0.0
    assert all(c.data.augment.mixup_alpha > 0 for c in list(mixup.values())[1:])
    for config in (*schedules.values(), *regs.values(), *mixup.values()):
        assert config.model.blocks == (3, 3, 2, 3) and config.optim.optimizer == base.optim.optimizer


def test_activation_grid_trains_every_coefficient_and_orderings_cover_a_to_e():
    cells = experiment_cells("activations", presets=["tiny"])
    assert len(cells) == sum(len(coefs) for coefs in ACTIVATION_GRID.values())
    pairs = {(c.config.model.activation, c.config.model.activation_coef) for c in cells}
    assert pairs == {(name, coef) for name, coefs in ACTIVATION_GRID.items() for coef in coefs}
    assert len(set(ACTIVATION_GRID["leaky_relu"])) >= 2  # a coefficient grid, not one value
    orders = experiment_cells("orderings", presets=["tiny", "small"])
    assert [c.name for c in orders[:5]] == ["tiny-a", "tiny-b", "tiny-c", "tiny-d", "tiny-e"]
    assert [c.config.model.block_order for c in orders] == list("abcde") * 2


def test_budget_knobs_and_the_stretched_schedule():
    cells = experiment_cells("schedules", presets=["small"], epochs=5, train_subset=500)
    for cell in cells:
        optim = cell.config.optim
        assert optim.epochs == 5 and cell.config.data.train_subset == 500
        assert optim.step_epochs == 2 and optim.restart_epochs == 2  # 20 epochs of 50 -> 2 of 5
        assert optim.gamma == pytest.approx(0.9 ** 10)  # the lr after 5 epochs = the study's after 50
    kept = experiment_cells("schedules", presets=["small"], epochs=5, scale_schedule=False)
    assert all(c.config.optim.step_epochs == 20 and c.config.optim.gamma == 0.9 for c in kept)
    base = TrainConfig().replace(optim={"batch_size": 32, "lr": 0.05})
    assert all(c.config.optim.batch_size == 32 for c in experiment_cells("mixup", base_config=base))
    assert experiment_cells("optimizers", base_config=base)[-1].config.optim.lr == 0.1  # the variant wins


def test_bad_names_and_knobs_say_what_is_accepted():
    with pytest.raises(ValueError, match="accepted: optimizers, schedules"):
        experiment_cells("optimiser")
    with pytest.raises(ValueError, match="accepted: a, b, c, d, e"):
        experiment_cells("orderings", variants=["f"])
    with pytest.raises(ValueError, match="preset"):
        experiment_cells("orderings", presets=["resnet99"])
    with pytest.raises(ValueError, match="epochs: received 0"):
        experiment_cells("orderings", epochs=0)
    assert [c.variant for c in experiment_cells("orderings", variants=["e", "a"])] == ["a", "e"]
