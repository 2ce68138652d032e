#!/usr/bin/env bash
# When: on a machine of 2+ NVIDIA GPUs, to add or refresh the data-parallel results (after a new release).
# Data-parallel training on this machine's NVIDIA GPUs: asv results for R = 1, 2 (and 4 where there
# are 4 GPUs) in MLX and PyTorch at the full preset, saved under results/, the site and table printed.
# Needs mlx + mlx-cuda-13 and a CUDA PyTorch in $PYTHON's environment (mlx.launch beside it).
# Extra arguments go to `mlxvspt run` (e.g. --resume, --bench DPAllReduce). CUDA_VISIBLE_DEVICES=2,3 runs
# it on 2 GPUs of a larger host: another kind of host than a 2-GPU machine's (its cores), so `run` asks for
# a machine name of its own (MLXVSPT_MACHINE).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# the GPUs this job may use: CUDA_VISIBLE_DEVICES where set (another job may hold the rest of the host)
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    gpus=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .)
else
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
fi
if [ "$gpus" -lt 2 ]; then
    echo "dp_gpu.sh: $gpus NVIDIA GPU(s) here; data-parallel rows need at least 2" >&2
    exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# results filed beside the committed ones: results/2xNVIDIA-H100-80GB-HBM3-full
export MLXVSPT_MACHINE=${MLXVSPT_MACHINE:-${gpus}x$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')}
exec "$PYTHON" -m mlxvspt run --workload dp_train --device gpu --preset full "$@"
