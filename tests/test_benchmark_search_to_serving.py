"""benchmarks/search_to_serving.py (issue 25, section 2): its steps are commands the CLI accepts, in the
user's order, a step that succeeded is not run again, a failure stops the path with a non-zero exit, and a
prediction without a server is recorded as not run, never as passed."""
import json

from file_helpers import load_benchmark
from keras_resnet_cifar.cli import build_parser

bench = load_benchmark("search_to_serving")


def test_each_step_is_a_command_the_cli_accepts_in_the_users_order():
    plan, images = bench.steps("data.tar.gz", "out", 60, [0, 1], "http://localhost:8501")
    assert [name for name, _, _ in plan] == ["tune", "train winner, seed 0", "train winner, seed 1", "export",
                                             "check-export", "predict"]
    parser = build_parser()
    for _, argv, _ in plan:
        parser.parse_args(argv)  # exits 2 on a flag the CLI does not have
    tune = parser.parse_args(plan[0][1])
    assert (tune.recipe, tune.max_minutes, tune.project) == ("fast", 60.0, "search")
    assert parser.parse_args(plan[1][1]).from_tuner == "out/tuner/search"
    assert plan[-1][1][-10:] == images and len(images) == 10
    no_server, _ = bench.steps("data.tar.gz", "out", 60, [0], None)
    assert no_server[-1][1] is None and "TF Serving is not installed" in no_server[-1][2]


def test_a_rerun_skips_what_succeeded_and_a_failure_stops_the_path(tmp_path, monkeypatch, capsys):
    ran = []

    def fake_run(argv):
        ran.append(argv[3])  # the subcommand after python -m keras_resnet_cifar
        return type("Done", (), {"returncode": 1 if argv[3] == "check-export" else 0})()

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    out = tmp_path / "s2s"
    args = ["--source", "data.tar.gz", "--out", str(out), "--seeds", "0"]
    assert bench.main(args) == 1
    assert ran == ["tune", "train", "export", "check-export"]  # stopped at the failure, predict not reached
    record = json.loads((out / "steps.json").read_text())
    assert record["check-export"]["rc"] == 1 and "predict" not in record

    ran.clear()
    monkeypatch.setattr(bench.subprocess, "run", lambda argv: ran.append(argv[3]) or type("Done", (), {"returncode": 0})())
    assert bench.main(args) == 0
    assert ran == ["check-export"]  # what had succeeded is not run again
    record = json.loads((out / "steps.json").read_text())
    assert record["predict"] == {"command": None, "rc": None, "wall_s": None,
                                 "not_run": "no --server: TF Serving is not installed on this machine"}
    assert "| predict | `no --server: TF Serving is not installed on this machine` | None | - |" in capsys.readouterr().out
