#!/usr/bin/env bash
# When: on an NVIDIA device machine, once per release point of the one-GPU suite.
# One release point of the one-GPU suite on an NVIDIA device machine (scripts/device_install.sh installs
# the release first). A point outlasts one device call (10 minutes), so it runs detached:
#   gpu_point.sh start [ARGS...]   `mlxvspt run --preset full --device gpu` over the one-GPU workloads (llm_quant
#                                  where torchao is installed), the cheap ones first (ARGS added, e.g.
#                                  --headline, --tier all or --resume), in the background,
#                                  the machine named after its GPU ("NVIDIA-H100-80GB-HBM3")
#   gpu_point.sh stop              stop the run as Ctrl-C does (it records the combinations that ended, so
#                                  `start --resume` on a later machine measures only the rest)
#   gpu_point.sh wait SECONDS [OUT]  return once the run ended, or after SECONDS; print its progress lines
#                                  and each combination's seconds per phase; with OUT, also OUT/point.tgz as
#                                  `pack` gives it so far: the parts that ended (a part's rows are recorded
#                                  as it ends), so a machine taken back mid-lease, as happened, loses only the
#                                  parts after the last call's; a result file being written may come back cut
#                                  (`mlxvspt merge` refuses it, and leaves out a cut JSON-lines line)
#   gpu_point.sh pack OUT          the machine's results and the run's logs (logs/host-trace.csv: the GPU's
#                                  clocks, power and clock-event reasons, the load and CPU MHz every 2 s, the
#                                  single-core probe every 10 s) as OUT/point.tgz, to bring back and unpack
#                                  over results/ here; the compile
#                                  caches in 15 MB parts (caches.tgz.aa, ...: a device call returns 8 files
#                                  of 16 MiB at most, 64 MiB in all), the first three in OUT, to carry to a
#                                  later machine for a warm-cache point
#   gpu_point.sh finish OUT        the lease's last call, when its device time runs out: `stop` if the run still
#                                  runs, then what `pack` gives: the compile caches of one H100's matmul, switch,
#                                  Whisper and TinyLlama parts (60 MB) packed to 7.8 MB in 6 s
#   gpu_point.sh caches OUT N      the cache parts from the Nth on, four of them, in OUT (the next call's)
#   gpu_point.sh warm FOLDER       unpack cache parts carried in FOLDER (caches.tgz.aa, ...) into the run's
#                                  cache folder, before `start`: a warm-cache point
# The device machine goes back 30 s after a call returns, and a detached run with it: follow `start` with
# `wait SECONDS $OUT` calls back to back, and `pack` (or `finish`) in the last one. `start --headline` (the
# headline's rows) took 13:06 on one H100 with cold caches, 10:25 warm, and 12:21 warm with llm_quant (4:27
# of it, where torchao is installed), at 64 new tokens a generation (32 since). The plan's estimates come
# from the runs files, at the present sizes where a run recorded them (plan.sizes_key), else at older ones.
# The run writes into $POINT (/tmp/gpu-point), not the checkout: each device call copies the working
# tree over the machine's checkout again, tracked results files included, which undid a detached run's
# results written there. Its compile caches stay in $MLXVSPT_CACHE (/tmp/gpu-cache) for the next run.
set -uo pipefail
cd "$(dirname "$0")/.."
POINT=${GPU_POINT:-/tmp/gpu-point}  # another folder (GPU_POINT=...) for a second run of the same release
export MLXVSPT_MACHINE=${MLXVSPT_MACHINE:-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')}
export MLXVSPT_CACHE=${MLXVSPT_CACHE:-/tmp/gpu-cache} MLXVSPT_LOGS=$POINT/logs
RESULTS=$POINT/results PARTS=/tmp/gpu-cache-parts
# the one-GPU workloads, the cheap ones first (llm_quant where torchao is installed, last);
# GPU_WORKLOADS="lm_train bert_train" measures those alone
QUANT=$(python3 -c "import torchao" 2> /dev/null && echo llm_quant)
WORKLOADS=${GPU_WORKLOADS:-matmul switch whisper llm lm_train bert_train $QUANT}
stop_run() {  # this point folder's run only (another folder's may be running), as Ctrl-C stops it
    kill -TERM "$(cat "$POINT/pid")"
    for _ in $(seq 60); do kill -0 "$(cat "$POINT/pid")" 2> /dev/null || break; sleep 1; done
    if kill -0 "$(cat "$POINT/pid")" 2> /dev/null; then echo "the run still runs after 60 s" >&2; fi
    tail -3 "$POINT/console.log"
}

pack_point() {  # OUT/point.tgz: the machine's results, the console and the logs (host trace included)
    tar czf "$1/point.tgz" -C "$POINT" results/"$MLXVSPT_MACHINE-full" console.log logs || exit 1
}

pack_caches() {  # the compile caches in 15 MB parts, the first three in OUT (`caches OUT 4` brings the rest)
    du -sh "$MLXVSPT_CACHE"/compile/*
    rm -rf "$PARTS" && mkdir -p "$PARTS"
    tar czf - -C "$MLXVSPT_CACHE" compile | split -b 15000000 - "$PARTS/caches.tgz."
    ls "$PARTS" | head -3 | while read -r part; do cp "$PARTS/$part" "$1/"; done
    ls -la "$1" "$PARTS"
}

case "${1:-}" in
start)
    shift
    mkdir -p "$RESULTS" "$MLXVSPT_LOGS"
    # this machine's results, and the other GPU machines' (the plan estimates a part this machine never
    # measured from theirs, at this machine's relative speed: track/plan.durations)
    for machine in results/*-full; do
        [ -d "$RESULTS/$(basename "$machine")" ] || cp -r "$machine" "$RESULTS/"
    done
    cp results/benchmarks.json "$RESULTS/"
    # shellcheck disable=SC2046 (one --workload per word)
    setsid nohup python3 -m mlxvspt run --preset full --device gpu $(printf -- '--workload %s ' $WORKLOADS) \
        --results-dir "$RESULTS" --html-dir "$POINT/html" "$@" > "$POINT/console.log" 2>&1 < /dev/null &
    echo $! > "$POINT/pid"
    # the host beside the run, every 2 s until it ends (logs/host-trace.csv): GPU clocks, power and throttle
    # reasons, the load, the CPU's mean MHz and, every 10 s, one single-core loop's seconds (the runs
    # line's probe, once): a quiet H100 host's loop read 0.055-0.064 s or 0.08-0.12 s from one process to
    # the next at a steady 2100 MHz (10 of 22 at 0.08 s or more in 160 s; 7-10 of its 16 vCPUs slow in
    # each of three sweeps 10 s apart, a different set each time), which host-bound rows feel too. The
    # probe takes one of the 16 cores for about 0.1 s in 10.
    query=clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,clocks_event_reasons.active
    loop="from mlxvspt.measure.devices import single_core_seconds; print(single_core_seconds(repeats=1))"
    setsid nohup bash -c 'tick=0; while kill -0 "$1" 2> /dev/null; do
        gpu=$(nvidia-smi --query-gpu="$2" --format=csv,noheader,nounits | head -1)
        mhz=$(awk "/MHz/ {s+=\$4; n++} END {printf \"%.0f\", s/n}" /proc/cpuinfo)
        probe=$([ $((tick % 5)) -eq 0 ] && python3 -c "$3")
        echo "$(date +%s),$gpu,$(cut -d" " -f1 /proc/loadavg),$mhz,$probe"
        tick=$((tick + 1)); sleep 2; done' trace "$(cat "$POINT/pid")" "$query" "$loop" \
        > "$MLXVSPT_LOGS/host-trace.csv" 2>&1 < /dev/null &
    echo "started: $MLXVSPT_MACHINE-full"
    ;;
stop)
    stop_run
    ;;
wait)
    end=$((SECONDS + $2))
    while [ $SECONDS -lt "$end" ] && kill -0 "$(cat "$POINT/pid")" 2> /dev/null; do
        sleep 5
    done
    grep -v '^|' "$POINT/console.log" | grep -v '^$' | tail -20
    grep -h "rows in" "$MLXVSPT_LOGS"/*.log | cut -c1-300 | tail -40
    if [ -n "${3:-}" ]; then pack_point "$3"; fi
    ;;
finish)
    : "${2:?usage: gpu_point.sh finish OUT}"
    if kill -0 "$(cat "$POINT/pid")" 2> /dev/null; then stop_run; fi
    ;&  # then what `pack` does
pack)
    pack_point "$2"
    pack_caches "$2"
    ;;
warm)
    mkdir -p "$MLXVSPT_CACHE"
    cat "$2"/caches.tgz.* | tar xzf - -C "$MLXVSPT_CACHE" || { echo "cache parts missing or incomplete" >&2; exit 1; }
    du -sh "$MLXVSPT_CACHE"/compile/*
    ;;
caches)
    ls "$PARTS" | tail -n +"$3" | head -4 | while read -r part; do cp "$PARTS/$part" "$2/"; done
    ls -la "$2"
    ;;
*)
    echo "usage: gpu_point.sh start [ARGS...] | stop | wait SECONDS [OUT] | finish OUT | pack OUT | caches OUT N | warm FOLDER" >&2
    exit 2
    ;;
esac
