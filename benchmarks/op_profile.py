"""Where a training step's time goes, per op family: ours (Keras on TensorFlow) against the PyTorch peer.

    python benchmarks/op_profile.py --recipe-minutes 15 --batch 512 --variant bf16 \\
        --peer-python /tmp/torch-peer/bin/python --peer ../shared/peers/torch_resnet.py
    python benchmarks/op_profile.py --preset resnet24 --batch 128 --variant bf16 --peer-python ...

Each side trains the same network on random data in a fresh process (ours: `train_step.keras_setup`,
the network, optimizer and loss `train()` compiles; the peer: `torch_resnet.py`'s network and training
loop, channels_last, bf16 autocast for `--variant bf16`) with `ONEDNN_VERBOSE=profile_exec`, and after
`--warmup` steps profiles `--steps` steps twice over: oneDNN's own execution time of every primitive it
runs (convolutions, reorders, and on our side BN and pooling, which TensorFlow also hands to oneDNN),
and the framework's op trace (TensorFlow's profiler; torch.profiler), which names what runs outside
oneDNN (GELU, the optimizer, the loss, casts, the input).

The table's rows, ms per step: the convolutions as oneDNN runs them (forward, backward-data,
backward-weights: primitive time), "conv op overhead" (what the framework's convolution ops take beyond
those primitives: reorders, primitive creation, casts inside them), then op time per family (with
the package's GELU (`--gelu package`, the default), its XLA runs count as activation), "= op time" their sum; "reorders" is the oneDNN reorder
time, already inside the rows above; "ops overlapping" is op time spent while another op ran (TensorFlow
runs independent ops on two inter-op threads, sharing the two cores: each op's time then stretches, so
compare per-op times with `--env TF_NUM_INTEROP_THREADS=1`); "no op running" is the wall time outside
every op (dispatch, Python, waiting). Profiling slows a step (PyTorch's more:
its profiler records every small op); the ratios to quote come from train_step.py, which does not
profile. Each side also reports its minor page faults per step.
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
START, END, RESULT = "@@op_profile start", "@@op_profile end", "@@op_profile result "
CONV_ROWS = ("conv fwd", "conv bwd-data", "conv bwd-weights")
OP_ROWS = ("BN", "activation", "pooling", "optimizer", "loss", "casts", "input", "other ops")
ROWS = (*CONV_ROWS, "conv op overhead", *OP_ROWS, "= op time", "reorders", "ops overlapping",
        "no op running", "total (wall)")


# ---- oneDNN verbose -------------------------------------------------------------------------------------

def parse_onednn(lines):
    """[(family, kind, impl, prop, shape, dtype, ms, line)] of the `onednn_verbose,...,exec,...` lines
    (`line`: the fields from the engine to the problem, naming memory formats and attributes).

    Handles oneDNN 3.x lines with or without the `v1,primitive` and timestamp fields: the fields
    after `exec` are engine, primitive kind, implementation, propagation kind, memory descriptors,
    attributes, algorithm, problem; the last field is the time in ms.
    """
    found = []
    for line in lines:
        if not line.startswith("onednn_verbose") or ",exec," not in line:
            continue
        fields = line.rstrip().split(",")
        i = fields.index("exec")
        try:
            kind, impl, prop, mds, ms = fields[i + 2], fields[i + 3], fields[i + 4], fields[i + 5], float(fields[-1])
        except (IndexError, ValueError):
            continue
        dtype = mds.split(":")[1] if ":" in mds else "?"
        found.append((onednn_family(kind, prop), kind, impl, prop, fields[-2], dtype, ms, ",".join(fields[i + 1:-1])))
    return found


def onednn_family(kind, prop):
    """The table row of a oneDNN primitive (its kind and propagation kind)."""
    if kind in ("convolution", "deconvolution"):
        return {"backward_data": "conv bwd-data", "backward_weights": "conv bwd-weights"}.get(prop, "conv fwd")
    return {"batch_normalization": "BN", "layer_normalization": "BN", "eltwise": "activation",
            "pooling": "pooling", "reorder": "reorders"}.get(kind, "other ops")


def summarize_onednn(records, steps):
    """Per family ms per step and calls per step; the costliest primitives (ms per call, calls per step)."""
    families = collections.defaultdict(float)
    calls = collections.Counter()
    by_primitive = collections.defaultdict(list)
    lines = {}
    for family, kind, impl, prop, shape, dtype, ms, line in records:
        families[family] += ms / steps
        calls[family] += 1 / steps
        by_primitive[(family, impl, dtype, shape)].append(ms)
        lines.setdefault((family, impl, dtype, shape), line)
    top = sorted(by_primitive.items(), key=lambda item: -sum(item[1]))[:15]
    return {"ms": dict(families), "calls": dict(calls),
            "top": [{"family": f, "impl": impl, "dtype": dtype, "shape": shape, "calls_per_step": len(v) / steps,
                     "ms_per_call": sum(v) / len(v), "ms_per_step": sum(v) / steps,
                     "line": lines[(f, impl, dtype, shape)]}
                    for (f, impl, dtype, shape), v in top]}


# ---- our side: Keras on TensorFlow ----------------------------------------------------------------------

def tf_family(name, op_type, layers, optimizer, xla="other ops"):
    """The row of one TensorFlow op, from its type, then the layer its name lies under (`layers`: layer
    name -> family), the optimizer's name scope, the loss's; XLA runs go to row `xla`."""
    if op_type == XLA_RUN:
        return xla
    if "Conv2DBackpropFilter" in op_type:
        return "conv bwd-weights"
    if "Conv2DBackpropInput" in op_type:
        return "conv bwd-data"
    if "Conv2D" in op_type:
        return "conv fwd"
    if "FusedBatchNorm" in op_type:
        return "BN"
    if "Pool" in op_type:
        return "pooling"
    if op_type in ("IteratorGetNext", "IteratorGetNextSync", "OptionalGetValue"):
        return "input"
    parts = name.split("/")
    if parts[0] == optimizer or f"/{optimizer}/" in name:
        return "optimizer"
    if op_type == "Cast":
        return "casts"
    for part in parts:  # inside a tf.function a layer's scope may carry a suffix: "stage1_act1_1"
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return layers[candidate]
    if "loss" in name:
        return "loss"
    return "other ops"


def _layer_families(model):
    import keras

    kinds = ((keras.layers.Conv2D, "conv fwd"), (keras.layers.BatchNormalization, "BN"),
             (keras.layers.MaxPooling2D, "pooling"), (keras.layers.AveragePooling2D, "pooling"),
             (keras.layers.Activation, "activation"), (keras.layers.ReLU, "activation"),
             (keras.layers.Lambda, "activation"))  # gelu_variants.py's GELUs are Lambda layers
    families = {}
    for layer in model.layers:
        for cls, family in kinds:
            if isinstance(layer, cls):
                families[layer.name] = family
    return families


XLA_RUN = "CpuExecutable::ExecuteAsyncOnStream"


def tf_op_events(logdir, others=None):
    """[(thread, name, type, start_ps, duration_ps)] of the TensorFlow ops in the profiler's host trace;
    `others` (a dict), if given, receives the total ps of every other event name on the op threads."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    events = []
    for path in glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as handle:
            space.ParseFromString(handle.read())
        for plane in space.planes:
            if plane.name != "/host:CPU":
                continue
            for line in plane.lines:
                for event in line.events:
                    text = plane.event_metadata[event.metadata_id].name
                    name, _, op_type = text.rpartition(":")  # "scope/op_name:OpType" (not "Class::method")
                    if text == XLA_RUN:  # an XLA-compiled function's run (it has no op event of its own)
                        name, op_type = "xla", XLA_RUN
                    if name and (op_type == XLA_RUN or not name.endswith(":") and op_type.lstrip("_")[:1].isupper()
                                 and op_type.replace("_", "").isalnum()):
                        events.append((line.id, name, op_type, line.timestamp_ns * 1000 + event.offset_ps,
                                       event.duration_ps))
                    elif others is not None and line.name != "python":
                        others[text] = others.get(text, 0) + event.duration_ps
    return events


def union_ms(intervals):
    """The total length of the union of (start, end) intervals (ops running on any thread)."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total, reach = total + end - start, end
        elif end > reach:
            total, reach = total + end - reach, end
    return total


def top_level(events):
    """The events not nested in another of the same thread (a function call's inner ops), to sum once."""
    kept, ends = [], {}
    for thread, name, op_type, start, duration in sorted(events, key=lambda e: (e[0], e[3], -e[4])):
        if start < ends.get(thread, -1):
            continue
        ends[thread] = start + duration
        kept.append((thread, name, op_type, start, duration))
    return kept


def _minor_faults():
    """Page faults of this process so far that needed no disk (first touches of fresh memory)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def keras_worker(args):
    sys.path.insert(0, HERE)
    import keras
    import tensorflow as tf

    from train_step import keras_setup

    model, data, label = keras_setup(args.preset, args.batch, args.variant, args.recipe_minutes,
                                     args.warmup + args.steps, gelu=args.gelu)
    logdir = tempfile.mkdtemp(prefix="op_profile_tf_")
    clock = {}

    class Profile(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == args.warmup:
                tf.profiler.experimental.start(logdir)
                print(START, flush=True)
                clock["start"], clock["faults"] = time.perf_counter(), _minor_faults()

        def on_train_batch_end(self, batch, logs=None):
            if batch == args.warmup + args.steps - 1:
                clock["end"], clock["faults"] = time.perf_counter(), _minor_faults() - clock["faults"]
                print(END, flush=True)
                tf.profiler.experimental.stop()

    model.fit(data, steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0, callbacks=[Profile()])
    layers, optimizer = _layer_families(model), model.optimizer.name
    ops = collections.defaultdict(float)
    types = collections.defaultdict(float)
    others = {}
    events = top_level(tf_op_events(logdir, others))
    shutil.rmtree(logdir, ignore_errors=True)
    busy = union_ms([(start / 1e9, (start + duration) / 1e9) for _, _, _, start, duration in events]) / args.steps
    for _, name, op_type, _, duration in events:
        ms = duration / 1e9 / args.steps
        ops[tf_family(name, op_type, layers, optimizer, "activation" if args.gelu == "package" else "other ops")] += ms
        types[op_type] += ms
    print(RESULT + json.dumps({"framework": f"keras {keras.__version__} / tf {tf.__version__}", "net": label,
                               "wall_ms": (clock["end"] - clock["start"]) * 1000 / args.steps, "ops": ops,
                               "busy_ms": busy, "page_faults": clock["faults"] / args.steps,
                               "other_events": {k: v / 1e9 / args.steps for k, v in
                                                sorted(others.items(), key=lambda kv: -kv[1])[:15]},
                               "op_types": dict(sorted(types.items(), key=lambda kv: -kv[1])[:25])}))


# ---- the peer: PyTorch ----------------------------------------------------------------------------------

def torch_family(name, ancestors):
    """The row of one torch.profiler event (its self time), from its name and its parents' names."""
    context = " ".join(ancestors)
    if "Optimizer." in context or name.startswith("Optimizer."):
        return "optimizer"
    text = f"{name} {context}".lower()
    if "convolution" in text or "conv2d" in text:
        return "conv"
    if "batch_norm" in text or "batchnorm" in text:
        return "BN"
    if "gelu" in text or "relu" in text or "threshold_backward" in text:  # ReLU's gradient is threshold_backward
        return "activation"
    if "pool" in text:
        return "pooling"
    if any(word in text for word in ("cross_entropy", "log_softmax", "nll_loss", "logsoftmax", "nllloss")):
        return "loss"
    if name in ("aten::to", "aten::_to_copy", "aten::copy_") or "ToCopyBackward" in name:
        return "casts"
    if name in ("aten::slice", "aten::as_strided"):
        return "input"
    return "other ops"


def torch_worker(args):
    import importlib.util

    import torch
    import torch.nn.functional as F

    spec = importlib.util.spec_from_file_location("torch_resnet", args.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layout = torch.channels_last
    if args.recipe_minutes:
        net, label = peer.Airbench(peer.Airbench.WIDTHS[args.net]), args.net
    else:
        blocks, channels = peer.PRESETS[args.preset]
        net, label = peer.ResNet(blocks, channels), args.preset
    model = net.to(memory_format=layout)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.variant == "bf16")
    images = torch.randn(args.batch * 4, 3, 32, 32).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (args.batch * 4,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    model.train()
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    for step in range(args.warmup + args.steps):  # the loop of torch_resnet.py's bench
        if step == args.warmup:
            profiler.__enter__()
            print(START, flush=True)
            start_time, faults = time.perf_counter(), _minor_faults()
        start = (step % 4) * args.batch
        x, y = images[start:start + args.batch], labels[start:start + args.batch]
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()
        loss.item()
    wall, faults = time.perf_counter() - start_time, _minor_faults() - faults
    print(END, flush=True)
    profiler.__exit__(None, None, None)
    ops = collections.defaultdict(float)
    names = collections.defaultdict(float)
    events = profiler.events()
    busy = union_ms([(e.time_range.start / 1000, e.time_range.end / 1000) for e in events
                     if e.cpu_parent is None]) / args.steps
    for event in events:
        ancestors, parent = [], event.cpu_parent
        while parent is not None:
            ancestors.append(parent.name)
            parent = parent.cpu_parent
        ms = event.self_cpu_time_total / 1000 / args.steps
        ops[torch_family(event.name, ancestors)] += ms
        names[event.name] += ms
    print(RESULT + json.dumps({"framework": f"torch {torch.__version__}", "net": label,
                               "wall_ms": wall * 1000 / args.steps, "ops": ops, "busy_ms": busy,
                               "page_faults": faults / args.steps,
                               "op_types": dict(sorted(names.items(), key=lambda kv: -kv[1])[:25])}))


# ---- the parent: run both, print the table --------------------------------------------------------------

def run_side(command, env, steps):
    """Run one worker; its result with the oneDNN summary of the lines between the markers."""
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = out.stdout.splitlines()
    inside = lines[lines.index(START) + 1:lines.index(END)]
    result = json.loads(next(line for line in lines if line.startswith(RESULT))[len(RESULT):])
    result["onednn"] = summarize_onednn(parse_onednn(inside), steps)
    return result


def rows(result):
    """{row: ms per step} for one side (see the module doc)."""
    ops, dnn = collections.defaultdict(float, result["ops"]), collections.defaultdict(float, result["onednn"]["ms"])
    table = {row: dnn[row] for row in CONV_ROWS}
    conv_op = ops["conv"] + sum(ops[row] for row in CONV_ROWS)
    table["conv op overhead"] = conv_op - sum(dnn[row] for row in CONV_ROWS)
    table.update({row: ops[row] for row in OP_ROWS})
    table["= op time"] = conv_op + sum(ops[row] for row in OP_ROWS)
    table["reorders"] = dnn["reorders"]
    table["ops overlapping"] = table["= op time"] - result["busy_ms"]
    table["no op running"] = result["wall_ms"] - result["busy_ms"]
    table["total (wall)"] = result["wall_ms"]
    return table


def format_table(ours, peer, title):
    a, b = rows(ours), rows(peer) if peer else {}
    lines = [title, "| family | ours ms/step | peer ms/step | ours - peer |", "|---|---|---|---|"]
    for row in ROWS:
        other = f" {b[row]:.1f} | {a[row] - b[row]:+.1f} |" if peer else " | |"
        lines.append(f"| {row} | {a[row]:.1f} |{other}")
    return "\n".join(lines)


def format_primitives(result, side):
    lines = [f"{side}: costliest oneDNN primitives ({result['framework']})",
             "| family | implementation | dtype | problem | calls/step | ms/call | ms/step |",
             "|---|---|---|---|---|---|---|"]
    for p in result["onednn"]["top"]:
        lines.append(f"| {p['family']} | {p['impl']} | {p['dtype']} | {p['shape']} | {p['calls_per_step']:.0f} | "
                     f"{p['ms_per_call']:.2f} | {p['ms_per_step']:.1f} |")
    lines.append("op types (ms/step): " + ", ".join(f"{k} {v:.1f}" for k, v in list(result["op_types"].items())[:15]))
    return "\n".join(lines)


def macs_per_image(preset, recipe_minutes=None):
    from keras_resnet_cifar.params import count_network

    if recipe_minutes:
        from keras_resnet_cifar.recipes import recipe_config

        return count_network(recipe_config("fast", recipe_minutes).model).macs
    from keras_resnet_cifar import PRESETS
    from keras_resnet_cifar.params import make_spec

    return count_network(make_spec(**PRESETS[preset])).macs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--recipe-minutes", type=int, help="profile the fast recipe's network of this tier")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--variant", choices=("bf16", "plain"), default="bf16")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="the peer's torch threads")
    parser.add_argument("--peer-python", help="python with torch installed (see shared/peers/README.md)")
    parser.add_argument("--peer", default=os.path.join(HERE, "..", "..", "shared", "peers", "torch_resnet.py"))
    parser.add_argument("--env", nargs="+", default=[], metavar="KEY=VALUE", help="environment of our worker")
    parser.add_argument("--gelu", default="package", help="our GELU variant (gelu_variants.py)")
    parser.add_argument("--json", help="also write both sides' raw results to this file")
    parser.add_argument("--worker", choices=("keras", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "keras":
        return keras_worker(args)
    if args.worker == "torch":
        return torch_worker(args)

    sys.path.insert(0, HERE)
    from train_step import peer_net

    net = peer_net(args.preset, args.recipe_minutes)
    common = ["--preset", args.preset, "--batch", str(args.batch), "--variant", args.variant, "--gelu", args.gelu,
              "--warmup", str(args.warmup), "--steps", str(args.steps), "--threads", str(args.threads)]
    if args.recipe_minutes:
        common += ["--recipe-minutes", str(args.recipe_minutes), "--net", net[1]]
    env = {**os.environ, "ONEDNN_VERBOSE": "profile_exec", "TF_CPP_MIN_LOG_LEVEL": "2"}
    ours = run_side([sys.executable, __file__, *common, "--worker", "keras"],
                    {**env, **dict(item.split("=", 1) for item in args.env)}, args.steps)
    peer = run_side([args.peer_python, __file__, *common, "--peer", args.peer, "--worker", "torch"], env,
                    args.steps) if args.peer_python else None
    macs = macs_per_image(args.preset, args.recipe_minutes)
    title = (f"{ours['net']} batch {args.batch} {args.variant}: ms per step, {args.steps} profiled steps "
             f"({ours['framework']}" + (f" against {peer['framework']})" if peer else ")"))
    print(format_table(ours, peer, title))
    for result, side in ((ours, "ours"), (peer, "peer")):
        if result:
            rate = args.batch / result["wall_ms"] * 1000
            print(f"{side}: {rate:.0f} img/s while profiled, {6 * macs * rate / 1e9:.0f} GFLOP/s "
                  f"(6 x {macs / 1e6:.1f}M MACs per image), {result['page_faults']:,.0f} minor page faults a step")
            print(format_primitives(result, side))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"ours": ours, "peer": peer, "macs_per_image": macs, "args": vars(args)}, handle, indent=1)


if __name__ == "__main__":
    main()
