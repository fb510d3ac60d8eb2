#!/bin/bash
# The GPU checks of the accuracy issue in one command, sized for a lent machine's one call
# (about 9 minutes of a 10-minute limit): each step has its own time limit, so a slow step costs
# its own results only, and every step writes under $OUT (what comes back: one log per step and
# one archive of the sweep's result files).
#
#   1. the machine: GPU, driver, torch;
#   2. make bench's training benchmarks on the GPU (bench_mfu.py: MFU against the GPU's bf16
#      matmul peak at 224 px; bench_train.py: the 28 px and 224 px cases against a plain loop
#      with its samples on the GPU);
#   3. the distributed path on nccl once: torchrun's group of one process running
#      `healthcnn train --device cuda` (world size 1: the machines lent here have one GPU; the
#      bundle's run.processes records the backend);
#   4. HAM10000 at the stored 200x150 px, 32 epochs, seeds 0-2 in parallel on the GPU
#      (scripts/skin_sweep.py --ham-recipes ce --size stored), the setting
#      docs/results-skin-recipes.md leaves to the GPU.
#
# Before the call, here: copy the data the steps read into an ignored folder of the checkout,
#   mkdir -p .gpu-data && cp -r ../shared/data/ham10000 ../shared/data/medmnist .gpu-data/
#   echo /.gpu-data/ >> .git/info/exclude
# then run, carrying .gpu-data:  bash scripts/device_round.sh
# Environment: DEVICE (cuda), DATA (.gpu-data), OUT (the tool's $OUT), PY (python3: the
# device's Python with PyTorch), BUDGET (seconds for the whole script, 540), QUICK=1 (a CPU
# smoke test: tiny counts, a small CNN, one epoch).
set -u
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data}
OUT=${OUT:?set OUT to the folder the results go to}
PY=${PY:-python3}
BUDGET=${BUDGET:-540}
QUICK=${QUICK:-0}
RUNS=$(mktemp -d)
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export HEALTHCNN_CACHE=${HEALTHCNN_CACHE:-$RUNS/cache}
mkdir -p "$OUT"
START=$(date +%s)

left() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME SECONDS COMMAND...: run it under its limit (never past the budget), log to $OUT
step() {
    local name=$1 limit=$2
    shift 2
    local budget_left
    budget_left=$(left)
    if [ "$budget_left" -lt 20 ]; then
        echo "skipped: ${budget_left} s of the budget left" > "$OUT/$name.log"
        return
    fi
    [ "$limit" -gt "$budget_left" ] && limit=$budget_left
    echo "== $name (limit $limit s): $*" | tee "$OUT/$name.log"
    local t0=$SECONDS
    timeout --signal=INT --kill-after=15 "$limit" "$@" >> "$OUT/$name.log" 2>&1
    echo "== $name: exit $? in $((SECONDS - t0)) s" | tee -a "$OUT/$name.log"
}

if [ "$QUICK" = 1 ]; then
    BENCH=(--quick)
    TRAIN=(--model simple_cnn --epochs 1)
    SWEEP=(--quick --seeds 0 1)
else
    BENCH=()
    TRAIN=(--model resnet18 --epochs 5 --batch-size 128)
    SWEEP=(--ham-epochs 32 --seeds 0 1 2 --size stored)
fi

step 1-machine 30 bash -c "nvidia-smi 2>&1 || echo 'no nvidia-smi'; lscpu | grep 'Model name';
    $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda,
        \"available\", torch.cuda.is_available())'"
step 2-bench-mfu 120 "$PY" benchmarks/bench_mfu.py --device "$DEVICE" "${BENCH[@]}"
step 2-bench-train 120 "$PY" benchmarks/bench_train.py --device "$DEVICE" --only "px" "${BENCH[@]}"
step 3-nccl 90 "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m healthcnn \
    train --data retinamnist --data-dir "$DATA" "${TRAIN[@]}" --device "$DEVICE" --seed 0 \
    --out "$RUNS/ddp1"
# the sweep stops starting and ends its jobs at its own limit, keeping what finished
SWEEP_LIMIT=$(( $(left) - 30 ))
step 4-ham-stored $((SWEEP_LIMIT + 20)) "$PY" scripts/skin_sweep.py --device "$DEVICE" --jobs 3 \
    --threads 4 --data-dir "$DATA" --out "$RUNS/ham-stored" --ham-recipes ce \
    --time-limit "$SWEEP_LIMIT" "${SWEEP[@]}"
if [ -d "$RUNS/ham-stored" ]; then
    # the result files only (the probabilities are in them), one archive
    (cd "$RUNS" && find ham-stored -name '*.json' -print0 | tar --null -czf "$OUT/ham-stored.tar.gz" -T -)
fi
if [ -f "$RUNS/ddp1/metadata.json" ]; then cp "$RUNS/ddp1/metadata.json" "$OUT/nccl-metadata.json"; fi
echo "device round done in $(( $(date +%s) - START )) s; results in $OUT"
rm -rf "$RUNS"
