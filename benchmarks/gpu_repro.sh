#!/usr/bin/env bash
# The study's Table 4 on one GPU, in one job of at most 9 minutes, with the package's own `train`.
#
#   benchmarks/gpu_repro.sh --prepare            # here, with network: fill .carry/ (wheels, CIFAR archive)
#   benchmarks/gpu_repro.sh RESULTS_DIR          # on the GPU machine: train, then summarize
#   benchmarks/gpu_repro.sh RESULTS_DIR --smoke  # rehearsal on a CPU: tiny preset, 1 epoch, a train subset
#
# Runs, in this order while the time budget lasts (each started only if it fits, and stopped at
# the budget's end regardless): Table 4 (ResNet24, SGD Nesterov 0.9, lr 0.1, weight decay 1e-3,
# exp decay 0.9 per epoch, batch 128, 50 epochs) seed 0, the same with mixup 1.0 seed 0, both
# again with seed 1, one 3-epoch batch-512 run for throughput, more seeds of both, and last
# `train --recipe fast` where the CLI has it. Table 4 and mixup alternate so both get a mean over
# >= 2 seeds as soon as four runs fit. Each run's metrics.json, history.csv, config.json and
# run.json go to RESULTS_DIR/<recipe>-<seed>/; summary.json and summary.txt to RESULTS_DIR.
# Printed: images/s, seconds per epoch, the share of the bf16 peak, time to 94% validation
# accuracy (from history.csv's per-epoch seconds) and the test accuracy of that first checkpoint.
#
# The GPU machine has JAX but neither TensorFlow nor Keras: keras and its small dependencies
# travel as wheels in .carry/wheels; those whose module is missing are installed with pip
# --no-index --target, then PYTHONPATH (never a second copy of one already there); the archive as .carry/cifar10-jpeg.tar.gz (.carry/ is ignored by git).
# Data: the JPEG copy, because a device call carries at most 64 MiB and the official archive
# (../shared/data/cifar10-png.tar.gz) is 134 MB: its accuracies (and time to TARGET) are the JPEG copy's, about
# 3.5 points under the official data's at the fast recipe's budget, not comparable with published figures;
# set DATA to an official archive on a machine that has one. With the
# device tool: carry [".carry"], command
#   benchmarks/gpu_repro.sh /tmp/r; tar czf $OUT/results.tgz -C /tmp/r .; cp /tmp/r/summary.txt $OUT/
# (only 8 files come back from $OUT, hence the tarball).
#
# Environment: PYTHON (default python3), KERAS_BACKEND (default jax; tensorflow where jax is
# missing), DATA (default .carry/cifar10-jpeg.tar.gz), SCRATCH (run folders, caches; default
# /tmp/gpu_repro), BUDGET_S (seconds for the whole job; default 510), PRECISION (default bf16),
# TARGET (default 0.94), MAX_RUNS, EPOCHS, SMOKE_SUBSET.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CARRY="$REPO/.carry"
PYTHON="${PYTHON:-python3}"

if [[ "${1:-}" == "--prepare" ]]; then
  # Wheels for the GPU machine's Python 3.12 (PY_VERSION), x86-64; versions as installed here by default.
  mkdir -p "$CARRY/wheels"
  for spec in "keras==${KERAS_VERSION:-3.15.1}" "namex==${NAMEX_VERSION:-0.1.0}" "optree==${OPTREE_VERSION:-0.20.0}" \
      "typing_extensions==${TYPING_EXTENSIONS_VERSION:-4.15.0}"; do
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${PY_VERSION:-3.12}" --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$CARRY/wheels" "$spec"
  done
  ARCHIVE="${ARCHIVE:-$REPO/../shared/data/cifar10-jpeg.tar.gz}"
  [[ -f "$ARCHIVE" ]] || { echo "archive: $ARCHIVE does not exist; set ARCHIVE=/path/to/cifar10-jpeg.tar.gz" >&2; exit 2; }
  install -m 644 "$ARCHIVE" "$CARRY/cifar10-jpeg.tar.gz"
  ls -l "$CARRY" "$CARRY/wheels"
  exit 0
fi

if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: $0 RESULTS_DIR [--smoke] | --prepare" >&2
  exit 2
fi
RESULTS="$(mkdir -p "$1" && cd "$1" && pwd)"
SMOKE=0
[[ "${2:-}" == "--smoke" ]] && SMOKE=1
START=$(date +%s)
SCRATCH="${SCRATCH:-/tmp/gpu_repro}"
mkdir -p "$SCRATCH"
# XLA's compiled programs persist across the runs: only the first run compiles the training step.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$SCRATCH/jax-cache}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1

has() { "$PYTHON" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }
MISSING=()  # carried wheels whose module this Python lacks (a wheel's name starts with its module's)
for wheel in "$CARRY"/wheels/*.whl; do
  [[ -e "$wheel" ]] || continue
  module="$(basename "$wheel")"; module="${module%%-*}"
  has "$module" || MISSING+=("$wheel")
done
if (( ${#MISSING[@]} )); then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SCRATCH/site" \
    "${MISSING[@]}"
  export PYTHONPATH="$SCRATCH/site${PYTHONPATH:+:$PYTHONPATH}"
fi
has keras || { echo "keras is not installed and $CARRY/wheels holds no keras wheel; run '$0 --prepare'" \
  "where pip reaches the registry, then carry .carry" >&2; exit 2; }
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
if [[ -z "${KERAS_BACKEND:-}" ]]; then
  if has jax; then KERAS_BACKEND=jax; else KERAS_BACKEND=tensorflow; fi
fi
export KERAS_BACKEND

if (( SMOKE )); then
  DATA="${DATA:-$CARRY/cifar10-jpeg.tar.gz}"
  BUDGET_S="${BUDGET_S:-240}" MAX_RUNS="${MAX_RUNS:-3}" TARGET="${TARGET:-0.0}"
  MODEL=(--preset tiny) EPOCHS="${EPOCHS:-1}" BATCH=32 TPUT_BATCH=64 TPUT_EPOCHS=1
  EXTRA=(--train-subset "${SMOKE_SUBSET:-256}" --mixed-precision off)
else
  DATA="${DATA:-$CARRY/cifar10-jpeg.tar.gz}"
  BUDGET_S="${BUDGET_S:-510}" MAX_RUNS="${MAX_RUNS:-20}" TARGET="${TARGET:-0.94}"
  MODEL=(--preset resnet24) EPOCHS="${EPOCHS:-50}" BATCH=128 TPUT_BATCH=512 TPUT_EPOCHS=3
  EXTRA=(--mixed-precision "${PRECISION:-bf16}" --jit-compile on)
fi
[[ -e "$DATA" ]] || { echo "data: $DATA does not exist; copy ../shared/data/cifar10-jpeg.tar.gz into .carry/" \
  "('$0 --prepare'), or set DATA to an image-folder tree or archive" >&2; exit 2; }
COMMON=(--data "$DATA" --data-dir "$SCRATCH/cache" --histogram-freq 0 --quiet --force "${EXTRA[@]}")
TABLE4=("${MODEL[@]}" --optimizer sgdn --lr 0.1 --momentum 0.9 --weight-decay 1e-3 --schedule exp --gamma 0.9)

{
  echo "gpu_repro: $(date -u +%FT%TZ), smoke=$SMOKE, backend $KERAS_BACKEND, budget ${BUDGET_S}s, data $DATA"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import sys, keras, numpy; print('python', sys.version.split()[0], 'keras', keras.__version__, 'numpy', numpy.__version__)"
  "$PYTHON" -c "import jax; print('jax', jax.__version__, jax.devices())" 2>/dev/null || true
} | tee "$RESULTS/environment.txt"

LAST_WALL=0
RUNS=0
run_one() {  # NAME EPOCHS_FOR_ESTIMATE FLAGS...: start it if the budget allows, stop it at the budget's end
  local name="$1" scale="$2"; shift 2
  local now=$(date +%s) left estimate
  left=$(( BUDGET_S - (now - START) ))
  estimate=$(( LAST_WALL * scale / 100 ))
  if (( RUNS >= MAX_RUNS )) || (( left < estimate + 10 )) || (( left < 20 )); then
    echo "gpu_repro: skip $name (${left}s left, about ${estimate}s needed, $RUNS of at most $MAX_RUNS runs done)"
    return 1
  fi
  echo "gpu_repro: $name (${left}s left)"
  local t0=$(date +%s)
  timeout -k 5 $(( left - 5 )) "$PYTHON" "$REPO/benchmarks/gpu_repro.py" run "$SCRATCH/runs/$name" "$RESULTS/$name" \
    "$TARGET" -- "$@" "${COMMON[@]}" || echo "gpu_repro: $name ended with status $? (unfinished runs are listed as such)"
  (( scale == 100 )) && LAST_WALL=$(( $(date +%s) - t0 ))
  RUNS=$(( RUNS + 1 ))
  return 0
}

TABLE4_RUN=(--epochs "$EPOCHS" --batch-size "$BATCH")
seed=0
while (( seed < 10 )); do
  run_one "table4-s$seed" 100 "${TABLE4[@]}" "${TABLE4_RUN[@]}" --seed "$seed" || break
  run_one "mixup-s$seed" 100 "${TABLE4[@]}" "${TABLE4_RUN[@]}" --seed "$seed" --mixup 1.0 || break
  if (( seed == 1 || (SMOKE && seed == 0) )); then  # throughput at a larger batch (lr scaled linearly)
    run_one "table4b$TPUT_BATCH-s0" $(( 100 * TPUT_EPOCHS / EPOCHS + 10 )) "${TABLE4[@]}" --epochs "$TPUT_EPOCHS" \
      --batch-size "$TPUT_BATCH" --lr "$(awk "BEGIN {print 0.1 * $TPUT_BATCH / 128}")" --seed 0 || true
  fi
  seed=$(( seed + 1 ))
done
if "$PYTHON" -m keras_resnet_cifar train --help 2>/dev/null | grep -q -- "--recipe"; then
  run_one "fast-s0" 100 --recipe fast --seed 0 || true
fi
"$PYTHON" "$REPO/benchmarks/gpu_repro.py" summarize "$RESULTS"
echo "gpu_repro: done in $(( $(date +%s) - START ))s; results in $RESULTS"
