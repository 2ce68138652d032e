#!/usr/bin/env bash
# When: on a host of several NVIDIA GPUs, for a full-preset point faster than one GPU runs it.
# The full suite on a host of several NVIDIA GPUs as parts measured side by side, one part per GPU at a
# time, each pinned to its GPU and to its own share of the host's cores (the GPU's NUMA node first), so
# each part runs as on a machine of one GPU; `mlxvspt merge` then joins the parts into that machine's
# results, and the parts' wall times (runs-*.jsonl) add up to the whole suite's on one GPU.
#   gpu_parts.sh start JOB...   queue the jobs and start one worker per GPU, detached (setsid): each
#                               worker takes the next job until none is left. A job is "run:WORKLOAD",
#                               "run:WORKLOAD:FRAMEWORK" (one framework's rows), "run:WORKLOAD:[FRAMEWORK]:REGEX"
#                               (only the benchmarks whose name REGEX matches, as `run --bench`),
#                               "run:WORKLOAD:[FRAMEWORK]:[REGEX]:PRECISION" (one precision) or
#                               "check:WORKLOAD" (the full-preset cross-check), e.g. start run:lm_train:torch
#                               check:llm 'run:bert_train::BertTrainMemory|BertTrainValidation'
#                               run:bert_train:::bf16-mixed; a job "mlx-0.32.3/run:..." runs with that MLX
#                               release (installed beside the machine's: device_install.sh side 0.32.3), its
#                               part filed under that release's ledger point, so two releases share the GPUs;
#                               WORKER_GPUS="0 1" keeps the workers to those GPUs (each still gets its
#                               share of the cores), leaving the rest to another job (scripts/dp_gpu.sh);
#                               PRECISION=bf16-mixed keeps every job to that precision (a re-measure).
#                               Keep the LLM's frameworks in one job: its process takes the two frameworks'
#                               samples alternately (asvbench.MeasuredOnce.alternate_on); run:llm:torch
#                               measures PyTorch alone, minutes away from MLX's part
#   gpu_parts.sh status         one line per job: started, finished, exit code, seconds
#   gpu_parts.sh wait SECONDS   return once no job is queued or running, or after SECONDS (a device call's
#                               limit; the machine stays held between calls only briefly), then status
#   gpu_parts.sh stop           end the workers and their jobs (what finished stays in the parts)
#   gpu_parts.sh merge DEST     join the finished run parts and the checks into DEST (a results folder)
# On a machine of one GPU the jobs run one after another, each still a part of its own. Parts, logs and the
# queue live under $PARTS (default .asv/parts). Needs mlx + mlx-cuda-13 and a CUDA PyTorch in $PYTHON's
# environment (scripts/device_install.sh on the device machines).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PARTS=${PARTS:-.asv/parts}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# one GPU of this host is the machine each part runs as: "NVIDIA-H100-80GB-HBM3"
export MLXVSPT_MACHINE=${MLXVSPT_MACHINE:-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')}

cores_of() {  # cores_of GPU GPUS: this GPU's share of the cores, taken from its NUMA node's where known
    python3 - "$1" "$2" <<'EOF'
import os, re, subprocess, sys
gpu, gpus = int(sys.argv[1]), int(sys.argv[2])
cpus = sorted(os.sched_getaffinity(0))
share = len(cpus) // gpus
def expand(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out
try:  # nvidia-smi topo -m: a row per GPU whose "CPU Affinity" column lists its NUMA node's cores
    rows = [line.split() for line in subprocess.run(["nvidia-smi", "topo", "-m"], capture_output=True,
                                                     text=True).stdout.splitlines() if re.match(r"\S*GPU\d", line)]
    affinity = {int(re.sub(r"\D", "", r[0])): next(c for c in r[1:] if re.fullmatch(r"[\d,-]+", c) and "-" in c)
                for r in rows}
    node = [c for c in expand(affinity[gpu]) if c in cpus]
    peers = sorted(g for g, a in affinity.items() if a == affinity[gpu] and g < gpus)
    chosen = node[peers.index(gpu) * share:(peers.index(gpu) + 1) * share]
except (StopIteration, KeyError, ValueError, OSError):
    chosen = []
if len(chosen) < share:
    chosen = cpus[gpu * share:(gpu + 1) * share]
print(",".join(map(str, chosen)))
EOF
}

job() {  # job GPU SPEC: one job on one GPU
    local gpu=$1 spec=$2 id=${2//[:|\/]/-} start=$SECONDS side="" env=()
    if [[ $spec =~ ^(mlx-[0-9.]+)/(.*)$ ]]; then  # an MLX release installed beside (device_install.sh side)
        side=/tmp/side-${BASH_REMATCH[1]} spec=${BASH_REMATCH[2]}
        env=(PYTHONPATH="$side:$PYTHONPATH" ASV_PYTHONPATH="$side")  # asv drops PYTHONPATH, not ASV_PYTHONPATH
    fi
    IFS=: read -r kind workload framework bench precision <<<"$spec"
    precision=${precision:-${PRECISION:-}}
    if [[ ! $kind =~ ^(run|check)$ ]] || { [ -n "$side" ] && [ ! -d "$side" ]; }; then
        echo "$id not run: not a job (run:... or check:..., after mlx-VERSION/ whose side install exists)" >> "$PARTS/status"
        return
    fi
    local cores
    cores=$(cores_of "$gpu" "$GPUS")
    echo "$id started on GPU $gpu, cores $cores at $(date -u +%T)" >> "$PARTS/status"
    if [ "$kind" = run ]; then
        env "${env[@]}" CUDA_VISIBLE_DEVICES=$gpu taskset -c "$cores" "$PYTHON" -m mlxvspt run --preset full \
            --device gpu --workload "$workload" ${framework:+--framework "$framework"} \
            ${precision:+--precision "$precision"} ${bench:+--bench "$bench"} --results-dir "$PARTS/$id" \
            --html-dir "$PARTS/html-$id" > "$PARTS/$id.log" 2>&1
    else
        mkdir -p "$PARTS/checks"
        env "${env[@]}" CUDA_VISIBLE_DEVICES=$gpu taskset -c "$cores" "$PYTHON" -m mlxvspt check --device gpu \
            --preset full --workload "$workload" ${precision:+--precision "$precision"} \
            --json "$PARTS/checks/$id.jsonl" > "$PARTS/$id.log" 2>&1
    fi
    local code=$?
    echo "$id finished exit $code after $((SECONDS - start)) s at $(date -u +%T)" >> "$PARTS/status"
}

worker() {  # worker GPU: take jobs off the queue (one line each, first come first served) until it is empty
    while true; do
        local spec
        spec=$(flock "$PARTS/queue" sh -c 'head -1 "$1" && sed -i 1d "$1"' _ "$PARTS/queue")
        [ -n "$spec" ] || return 0
        job "$1" "$spec"
    done
}

case "${1:-}" in
start)
    shift
    mkdir -p "$PARTS"
    printf '%s\n' "$@" > "$PARTS/queue"
    GPUS=$(nvidia-smi -L | grep -c '^GPU')
    export -f job worker cores_of
    export PARTS PYTHON GPUS PRECISION
    for gpu in ${WORKER_GPUS:-$(seq 0 $((GPUS - 1)))}; do
        setsid nohup bash -c "worker $gpu" > "$PARTS/worker-$gpu.log" 2>&1 < /dev/null &
    done
    echo "workers on GPUs ${WORKER_GPUS:-0-$((GPUS - 1))} started on: $*"
    ;;
status)
    cat "$PARTS/status" 2>/dev/null
    echo "queued: $(tr '\n' ' ' < "$PARTS/queue" 2>/dev/null)"
    ;;
wait)
    end=$((SECONDS + $2))
    while [ $SECONDS -lt "$end" ] && pgrep -f "bash -c [w]orker" > /dev/null; do
        sleep 5
    done
    cat "$PARTS/status" 2>/dev/null || true
    ;;
stop)
    for pid in $(pgrep -f "bash -c [w]orker"); do
        kill -- "-$pid" 2>/dev/null
    done
    ;;
merge)
    dest=$2
    "$PYTHON" -m mlxvspt merge "$dest" "$PARTS"/*run-*/"$MLXVSPT_MACHINE-full" || exit
    for checks in "$PARTS"/checks/*.jsonl; do  # each into its release's check file
        [ -e "$checks" ] || continue
        side=""
        [[ $(basename "$checks") =~ ^(mlx-[0-9.]+)-check- ]] && side=/tmp/side-${BASH_REMATCH[1]}:
        point=$(PYTHONPATH="$side$PYTHONPATH" "$PYTHON" -c \
            "from mlxvspt import ledger; print(ledger.point_for_installed(ledger.build())[0])")
        cat "$checks" >> "$dest/check-$point.jsonl"
    done
    ;;
*)
    echo "usage: gpu_parts.sh start JOB... | status | wait SECONDS | stop | merge DEST" >&2
    exit 2
    ;;
esac
