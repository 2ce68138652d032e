#!/usr/bin/env bash
# When: on an NVIDIA device machine, once per release point of the one-GPU suite.
# One release point of the one-GPU suite on an NVIDIA device machine (scripts/device_install.sh installs
# the release first). A point outlasts one device call (10 minutes), so it runs detached:
#   gpu_point.sh start [ARGS...]   `mlxvspt run --preset full --device gpu` over the seven one-GPU workloads
#                                  (ARGS added, e.g. --tier all), in the background, the machine named
#                                  after its GPU ("NVIDIA-H100-80GB-HBM3")
#   gpu_point.sh wait SECONDS      return once the run ended, or after SECONDS; print its progress lines
#   gpu_point.sh pack OUT          the machine's results and the run's logs as OUT/point.tgz, to bring back
#                                  and unpack over results/ here
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=/tmp/gpu_point.log
export MLXVSPT_MACHINE=${MLXVSPT_MACHINE:-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')}
case "${1:-}" in
start)
    shift
    setsid nohup python3 -m mlxvspt run --preset full --device gpu --workload matmul --workload switch \
        --workload whisper --workload llm --workload llm_quant --workload lm_train --workload bert_train "$@" > "$LOG" 2>&1 < /dev/null &
    echo "started: $MLXVSPT_MACHINE-full"
    ;;
wait)
    end=$((SECONDS + $2))
    while [ $SECONDS -lt "$end" ] && pgrep -f "mlxvspt run --preset full" > /dev/null; do
        sleep 5
    done
    grep -v '^|' "$LOG" | grep -v '^$' | tail -40
    ;;
pack)
    tar czf "$2/point.tgz" "results/$MLXVSPT_MACHINE-full" results/benchmarks.json "$LOG" .asv/logs
    ls -la "$2"
    ;;
*)
    echo "usage: gpu_point.sh start [ARGS...] | wait SECONDS | pack OUT" >&2
    exit 2
    ;;
esac
