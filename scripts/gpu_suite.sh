#!/usr/bin/env bash
# The whole suite on this machine's NVIDIA GPU at the full preset, in steps that each fit one device
# call (10 minutes):
#   gpu_suite.sh check [W..]  the full-preset cross-check of workloads W (default: all but dp_train) on the
#                             GPU, in parallel but lm_train after the rest (its fp32 step holds ~70 GB),
#                             appended where `run --keep-check` reads it; a summary line per workload
#   gpu_suite.sh run [ARGS]   mlxvspt run --preset full --device gpu --keep-check ARGS (e.g. --resume,
#                             --workload W); the wall time is printed and kept in runs-<point>.jsonl
# Results under $RESULTS (default results/), the machine named after the GPU and their count (MLXVSPT_MACHINE).
# Needs mlx + mlx-cuda-13 and a CUDA PyTorch in $PYTHON's environment (scripts/device_install.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RESULTS=${RESULTS:-results}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')
gpus=$(nvidia-smi -L | grep -c '^GPU')
# a host of several GPUs is another machine than one of them: "2xNVIDIA-H100-80GB-HBM3"
export MLXVSPT_MACHINE=${MLXVSPT_MACHINE:-$([ "$gpus" -gt 1 ] && echo "${gpus}x")$gpu}
point=$("$PYTHON" -c "from mlxvspt import ledger; print(ledger.point_for_installed(ledger.build())[0])")
folder="$RESULTS/$MLXVSPT_MACHINE-full"
mkdir -p "$folder"

check() {  # check WORKLOAD: its lines into $folder/check-WORKLOAD.part, its output into .txt
    local start=$SECONDS
    "$PYTHON" -m mlxvspt check --device gpu --preset full --workload "$1" --json "$folder/check-$1.part" \
        > "$folder/check-full-$1.txt" 2>&1
    echo "check $1: exit $?, $((SECONDS - start)) s, $(grep -c '^ok' "$folder/check-full-$1.txt") ok," \
         "$(grep -c '^FAIL' "$folder/check-full-$1.txt") FAIL, $(grep -c '^n/a' "$folder/check-full-$1.txt") n/a"
}

case "${1:-}" in
check)
    shift
    workloads=("${@:-switch matmul whisper bert_train llm lm_train}")
    for workload in ${workloads[@]}; do [ "$workload" = lm_train ] || check "$workload" & done
    wait
    for workload in ${workloads[@]}; do [ "$workload" != lm_train ] || check lm_train; done
    cat "$folder"/check-*.part >> "$folder/check-$point.jsonl" && rm "$folder"/check-*.part
    ;;
run)
    shift
    exec "$PYTHON" -m mlxvspt run --preset full --device gpu --keep-check --results-dir "$RESULTS" "$@"
    ;;
*)
    echo "usage: gpu_suite.sh check | run [mlxvspt run arguments]" >&2
    exit 2
    ;;
esac
