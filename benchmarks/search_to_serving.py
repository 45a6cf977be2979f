"""From search to a served model (issue 25, section 2): each step as a user runs it, timed.

    python benchmarks/search_to_serving.py --source ../shared/data/cifar10-png.tar.gz --out runs/s2s \\
        [--minutes 60] [--seeds 0 1] [--server http://localhost:8501] [--dry-run]

Each step is one `keras-resnet-cifar` command in a fresh process, as the README shows them:
1. tune --recipe fast --max-minutes M (FLOP-fair, the measured proxy trials, and its finalists: airbench94
   and the search's 2 best others trained as the winner is, the winner chosen on validation; M minutes in
   all), in OUT/tuner/search;
2. train --from-tuner OUT/tuner/search --seed S, for each seed of --seeds (the recipe's full training);
3. export the first seed's run to OUT/saved_models/winner (TF Serving's layout);
4. check-export OUT/saved_models/winner;
5. predict --server URL --model winner on ten test images written as PNG files: needs a TF Serving that
   serves OUT/saved_models (`--server`); without one the step is recorded as not run, never as passed.
Every step's command, exit status and wall seconds go to OUT/steps.json and a table is printed. A step that
succeeded is not run again on a rerun (each command also resumes its own work), and the script exits non-zero
if a step fails. --dry-run prints the commands only.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_resnet_cifar.files import read_json, write_json  # noqa: E402

CLI = [sys.executable, "-m", "keras_resnet_cifar"]


def steps(source, out, minutes, seeds, server):
    """[(name, argv or None when it cannot run here, why)] of the path, in order."""
    project, models = os.path.join(out, "tuner", "search"), os.path.join(out, "saved_models")
    plan = [("tune", ["tune", "--recipe", "fast", "--source", source, "--max-minutes", str(minutes),
                      "--directory", os.path.join(out, "tuner"), "--project", "search"], "")]
    plan += [(f"train winner, seed {seed}", ["train", "--from-tuner", project, "--source", source, "--seed", str(seed),
                                             "--workdir", os.path.join(out, f"winner-s{seed}"), "--quiet"], "")
             for seed in seeds]
    plan += [("export", ["export", os.path.join(out, f"winner-s{seeds[0]}"), "--name", "winner", "--base", models,
                         "--version", "1", "--force"], ""),
             ("check-export", ["check-export", os.path.join(models, "winner")], "")]
    images = [os.path.join(out, "images", f"test_{i}.png") for i in range(10)]
    plan.append(("predict", ["predict", "--server", server, "--model", "winner", *images] if server else None,
                 "" if server else "no --server: TF Serving is not installed on this machine"))
    return plan, images


def write_test_images(source, paths):
    """The first test images of `source`, as PNG files for `predict`."""
    from PIL import Image

    from keras_resnet_cifar.data.sources import load_data

    data = load_data(source, val_fraction=0.0)
    os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
    for image, path in zip(data.test.images, paths):
        Image.fromarray(image).save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="the data (the official archive for a result)")
    parser.add_argument("--out", required=True, help="folder of everything the path writes")
    parser.add_argument("--minutes", type=float, default=60, help="the search's --max-minutes (default 60)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the winner's training")
    parser.add_argument("--server", help="a TF Serving REST address serving OUT/saved_models")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    plan, images = steps(args.source, args.out, args.minutes, args.seeds, args.server)
    record_file = os.path.join(args.out, "steps.json")
    record = read_json(record_file) if os.path.exists(record_file) else {}
    failed = False
    for name, argv_, why in plan:
        if args.dry_run:
            print(" ".join(["keras-resnet-cifar", *argv_]) if argv_ else f"# {name}: {why}")
            continue
        if record.get(name, {}).get("rc") == 0:
            continue
        if argv_ is None:
            record[name] = {"command": None, "rc": None, "wall_s": None, "not_run": why}
        else:
            if name == "predict" and not os.path.exists(images[-1]):
                write_test_images(args.source, images)
            start = time.monotonic()
            rc = subprocess.run(CLI + argv_).returncode
            record[name] = {"command": "keras-resnet-cifar " + " ".join(argv_), "rc": rc,
                            "wall_s": round(time.monotonic() - start, 1)}
        os.makedirs(args.out, exist_ok=True)
        write_json(record_file, record)
        if record[name]["rc"] not in (0, None):
            failed = True
            break
    if not args.dry_run:
        print("| step | command | exit | wall |\n|---|---|---|---|")
        for name, _, _ in plan:
            step = record.get(name)
            if step:
                wall = f"{step['wall_s']:.0f} s ({step['wall_s'] / 60:.1f} min)" if step["wall_s"] else "-"
                print(f"| {name} | `{step['command'] or step['not_run']}` | {step['rc']} | {wall} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
