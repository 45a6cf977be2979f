import subprocess
import sys

import pytest

from keras_resnet_cifar import count_params
from keras_resnet_cifar.cli import main

OK = dict(blocks=[1, 1], channels=[4, 8])

BAD = [
    (dict(blocks=[1, 1], channels=[4]), ValueError, "same length"),
    (dict(blocks=[], channels=[]), ValueError, "empty"),
    (dict(blocks=[0, 1], channels=[4, 8]), ValueError, "blocks"),
    (dict(blocks=[1, -1], channels=[4, 8]), ValueError, "blocks"),
    (dict(blocks=[1, 1], channels=[4, 0]), ValueError, "channels"),
    (dict(blocks=[1.5, 1], channels=[4, 8]), ValueError, "blocks[0]"),
    (dict(blocks=[True, 1], channels=[4, 8]), ValueError, "received True"),
    (dict(blocks="11", channels=[4, 8]), ValueError, "received '11'"),
    (dict(**OK, block_order="z"), ValueError, "'full_preact'"),
    (dict(**OK, activation="mish"), ValueError, "'leaky_relu'"),
    (dict(**OK, activation="relu", activation_coef=0.1), ValueError, "takes no coefficient"),
    (dict(**OK, kernel_size=4), ValueError, "odd"),
    (dict(**OK, kernel_size=0), ValueError, "odd"),
    (dict(**OK, kernel_size=[3, 5, 3]), ValueError, "one per stage"),
    (dict(**OK, skip_kernel=2), ValueError, "odd"),
    (dict(**OK, input_shape=(4, 4, 3)), ValueError, "pool_size"),
    (dict(blocks=[1] * 5, channels=[4] * 5, input_shape=(32, 32, 3)), ValueError, "shrinks to 2 after the stem and 5 stages"),
    (dict(**OK, num_classes=1), ValueError, "num_classes"),
    (dict(**OK, num_classes=2.0), ValueError, "num_classes"),
    (dict(**OK, l2=-1e-3), ValueError, "l2"),
    (dict(**OK, l1=float("nan")), ValueError, "l1"),
    (dict(**OK, input_shape=(32, 32)), ValueError, "input_shape"),
]


@pytest.mark.parametrize("kwargs,error,text", BAD)
def test_bad_arguments_raise_before_tensorflow(kwargs, error, text):
    with pytest.raises(error) as info:
        count_params(**kwargs)
    assert text in str(info.value)
    # the message names the argument (its key path in config.json) and what was received
    assert str(info.value).split(":")[0].split("[")[0] in {
        "model.blocks", "model.channels", "model.blocks and model.channels", "model.block_order",
        "model.activation", "activation_coef", "model.activation_coef", "model.kernel_size", "model.skip_kernel",
        "model.input_shape", "model.num_classes", "model.l1", "model.l2"}
    assert "received" in str(info.value) and "accepted" in str(info.value)


@pytest.mark.parametrize("kwargs,error,text", BAD[:4])
def test_builder_raises_the_same_errors(kwargs, error, text):
    from keras_resnet_cifar import build_resnet

    with pytest.raises(error, match=text):
        build_resnet(**kwargs)


def test_builder_refuses_an_unknown_option_naming_the_accepted_ones():
    from keras_resnet_cifar import build_resnet

    with pytest.raises(TypeError, match=r"unknown options \['widths'\]; accepted: .*'block_order'"):
        build_resnet(blocks=[1], channels=[4], widths=[4])


def test_aliases_resolve_once_to_canonical_values():
    from keras_resnet_cifar import ResNetSpec

    spec = ResNetSpec(blocks=[1, 1], channels=[4, 8], block_order="full_preact", activation="SiLU", kernel_size=3)
    assert (spec.block_order, spec.activation, spec.activation_coef, spec.kernel_size) == ("e", "swish", 1.0, (3, 3))
    assert spec == ResNetSpec(blocks=(1, 1), channels=(4, 8), block_order="e", activation="swish",
                              activation_coef=1.0, kernel_size=[3, 3])


def test_cli_prints_error_without_traceback_and_exits_nonzero(capsys):
    assert main(["summary", "--blocks", "1", "1", "--channels", "4", "8", "--block-order", "z"]) == 2
    err = capsys.readouterr().err
    assert "block_order: received 'z'" in err and "Traceback" not in err


def test_cli_blocks_alone_change_the_default_network_and_must_match_its_channels(capsys):
    assert main(["summary", "--blocks", "1", "1"]) == 2
    assert "model.blocks and model.channels: received 2 and 4 entries" in capsys.readouterr().err
    assert main(["summary", "--blocks", "1", "1", "1", "1"]) == 0
    assert "Trainable params" in capsys.readouterr().out


def test_cli_summary_subprocess_prints_table_1_count():
    out = subprocess.run([sys.executable, "-m", "keras_resnet_cifar", "summary", "--preset", "resnet24"],
                         capture_output=True, text=True, check=True).stdout
    assert "Trainable params: 4,935,242" in out
    assert "stage4" in out and "4x4" in out


def test_cli_plot_without_graphviz_explains_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["summary", "--preset", "tiny", "--plot", str(tmp_path / "a.png")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
