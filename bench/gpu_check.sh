#!/usr/bin/env bash
# The one GPU check of issue 11, for a lent device machine (device tool: `run`), under 8 minutes on one H200:
#   P6 (training images/s from JPEGs through cassava_learner with bf16 + channels_last vs timm's synthetic loop),
#   inference images/s with TTA, bf16 / channels-last against fp32 (accel.py), and SAM's step ratio on the GPU. Results: bench/results/*.jsonl and $OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
timeout 240 $PY bench/gpu_p6.py --device cuda || echo 'gpu_p6.py failed or timed out'
timeout 60 $PY bench/accel.py --device cuda --models efficientnet_b0:256:64 --rounds 2 --n-batches 10 --variants fp32 bf16 channels_last 'bf16 + channels_last' || echo 'bench/accel.py failed or timed out'
timeout 60 $PY bench/batch_aug.py --device cuda || echo 'bench/batch_aug.py failed or timed out'
timeout 90 $PY bench/sam_step.py --device cuda --arch efficientnet_b0 --size 256 --bs 64 --n-batches 20 --rounds 3 || echo 'bench/sam_step.py failed or timed out'
if [ -n "${OUT:-}" ]; then cp bench/results/gpu_p6.jsonl bench/results/accel.jsonl bench/results/batch_aug.jsonl bench/results/sam_step.jsonl "$OUT"/ 2>/dev/null || true; fi
