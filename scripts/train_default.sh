#!/usr/bin/env bash
# Reproduce the bundled default model and its metrics from ../shared/data (not run by CI).
# About 52 min on 2 CPU cores with AVX-512 BF16: embedding 2 min, training three shared networks and an m6A network in bf16 49 min, evaluations (with the baseline) 1 min.
# Usage: bash scripts/train_default.sh [RUNDIR]   (default RUNDIR: runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/default}
data=../shared/data
mkdir -p "$run"
multirm-embed "$data/multirm/train.tsv.gz" -o "$run/w2v100.txt" --dim 100 --epochs 3 --seed 0
python scripts/train_default.py --workdir "$run/work" --out "$run/model.safetensors" \
    --embedding "$run/w2v100.txt" --dump-train "$run/train_assembled.tsv.gz" --dump-heldout "$run/heldout.tsv.gz"
# MultiRM's validation split chose the epoch; the held-out share of the training tables did not.
multirm-evaluate --model "$run/model.safetensors" --sites "$data/multirm/valid.tsv.gz" --outdir "$run/eval_valid" \
    --baseline-train "$run/train_assembled.tsv.gz"
multirm-evaluate --model "$run/model.safetensors" --sites "$run/heldout.tsv.gz" --outdir "$run/eval_heldout"
