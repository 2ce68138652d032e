"""Data-parallel training: the 2-rank CPU cross-check (MLX ring vs PyTorch gloo), and a crashed, hung or
unlaunchable run failing its row with one line and leaving no process behind."""
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from mlxvspt.measure.check import CheckResult
from mlxvspt.measure.devices import Target
from mlxvspt.errors import Unavailable, UsageError
from mlxvspt.workloads.dp_train import launch, rank, spec
from mlxvspt.workloads.lm_train import spec as lm_train

# Stands in for the rank module: records its pid, then rank 1 raises, aborts in C++ or is killed by a
# signal, or every rank hangs.
FAKE_RANK = """
import json, os, signal, sys, time
from pathlib import Path
rank = os.environ.get("MLX_RANK", os.environ.get("RANK"))
folder = Path(json.loads(sys.argv[1])["figures"]).parent
(folder / f"rank{rank}.pid").write_text(str(os.getpid()))
mode = os.environ["MLXVSPT_TEST_MODE"]
if mode != "hang" and rank == "1":
    time.sleep(0.5)
    if mode == "crash":
        raise RuntimeError("rank 1 crashed on purpose")
    if mode == "abort":
        sys.stderr.write("terminate called after throwing an instance of 'gloo::IoException'\\n"
                         "  what():  [pair.cc:598] Connection closed by peer [127.0.0.1]:54168\\n")
        sys.stderr.flush()
        time.sleep(0.5)  # mlx.launch prints ranks' output from a queue: it may end before printing a last line
        os.abort()
    os.kill(os.getpid(), signal.SIGSEGV)
time.sleep(600)
"""
# What each way of failing must read as, in one line, per launcher.
FAILURE_SAYS = {"crash": {"mlx": "rank 1 crashed on purpose", "torch": "rank 1 crashed on purpose"},
                "abort": {"mlx": "gloo::IoException: [pair.cc:598] Connection closed by peer",
                          "torch": "gloo::IoException: [pair.cc:598] Connection closed by peer"},
                "signal": {"mlx": "Node with rank 1 exited with code -11",
                           "torch": "rank 1 (local_rank: 1): exitcode -11"}}


def test_two_ranks_agree_with_one_process_and_across_frameworks():
    result = spec.check("tiny", "cpu")
    assert result.passed, result.lines
    text = "\n".join(result.lines)
    for fw in ("mlx", "torch"):
        assert f"dp_train [cpu default fp32] {fw} 2 ranks: weights identical across ranks" in text
        assert f"{fw} 2 ranks vs {fw} one process" in text
    assert "mlx vs torch, 2 ranks each" in text


def update_gap(a, b):
    result = CheckResult("dp_train")
    spec.compare_updates(result, "gap", a, b, limit=0.0)
    return result.entries[0].value


def test_one_mlx_rank_through_the_launcher_trains_like_one_process(tmp_path):
    """R = 1 (the scaling baseline) goes through mlx.launch too, which gives one rank no ring."""
    sizes = spec.all_sizes("tiny")
    start = lm_train.initial_weights(sizes)
    figures = spec.run_ranks(Target("mlx", "cpu", "fp32"), sizes, 1, 3, False, tmp_path / "w.safetensors")
    assert figures["ran"] == {"ranks": 1, "backend": "none", "weights_dtype": "float32", "rank_batch": sizes["batch"]}
    single = spec.updates(spec.one_process("mlx", "cpu", "fp32", sizes, 3), start)
    assert update_gap(spec.updates(spec.load(tmp_path / "w.safetensors"), start), single) <= 1e-4


def test_same_framework_limit_tells_a_half_batch_apart():
    """A rank that trained on its half of the batch without averaging would fail the cross-check."""
    sizes, steps = spec.all_sizes("tiny"), spec.all_sizes("tiny")["steps"]
    start = lm_train.initial_weights(sizes)
    whole = spec.updates(spec.one_process("mlx", "cpu", "fp32", sizes, steps), start)
    half = spec.updates(spec.one_process("mlx", "cpu", "fp32", {**sizes, "batch": sizes["batch"] // 2}, steps), start)
    assert update_gap(half, whole) > 10 * spec.UPDATE_LIMITS["same"]["fp32"]


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def running_with(marker):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            pass
    return [pid for pid in found if alive(pid) and pid != os.getpid()]


@pytest.fixture
def fake_rank(tmp_path, monkeypatch):
    """Launch a fake rank module (unique name) instead of the real one."""
    module = f"fake_rank_{os.getpid()}_{int(time.time() * 1000)}"
    (tmp_path / f"{module}.py").write_text(FAKE_RANK)
    monkeypatch.setattr(launch, "ENTRY", ["-m", module])
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return module


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("framework, mode, timeout", [("mlx", "crash", 60), ("torch", "crash", 60),
                                                      ("mlx", "abort", 60), ("torch", "abort", 60),
                                                      ("mlx", "signal", 60), ("torch", "signal", 60),
                                                      ("mlx", "hang", 5), ("torch", "hang", 9)])
def test_failed_rank_fails_the_row_and_leaves_nothing_running(fake_rank, monkeypatch, framework, mode, timeout):
    monkeypatch.setenv("MLXVSPT_TEST_MODE", mode)
    sizes = {**spec.all_sizes("tiny"), "timeout": timeout}
    start = time.monotonic()
    with pytest.raises(launch.LaunchError) as failure:
        spec.run_ranks(Target(framework, "cpu", "fp32"), sizes, 2, 1, False)
    elapsed = time.monotonic() - start
    message = str(failure.value)
    assert "\n" not in message and message.startswith(f"dp_train: {framework} cpu 2 ranks")
    if mode != "hang":  # the rank's own failure, not the timeout's "no result within"
        assert FAILURE_SAYS[mode][framework] in message and "no result within" not in message
    else:  # waited the timeout out, no less (how much longer hangs on the host's load: not a test)
        assert "no result within" in message and elapsed >= timeout
    folder = next(Path(os.environ["MLXVSPT_CACHE"], "dp_train").glob(f"{framework}-cpu-fp32-r2"))
    pids = [int(p.read_text()) for p in folder.glob("rank*.pid")]
    assert pids, "the fake ranks never started"
    assert not [pid for pid in pids if alive(pid)]
    assert not running_with(fake_rank)


TORCHRUN_SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -11 (pid: 4321)
  error_file: <N/A>
  traceback : Signal 11 (SIGSEGV) received by PID 4321
============================================================
  rank      : 0 (local_rank: 0)
"""


@pytest.mark.parametrize("log, says", [
    ("Traceback (most recent call last):\nRuntimeError: out of memory on rank 1\n"
     "terminate called after throwing an instance of 'gloo::IoException'\n  what():  Connection closed by peer\n",
     "RuntimeError: out of memory on rank 1"),
    ("RuntimeError: [pair.cc:598] Connection closed by peer\n" + TORCHRUN_SUMMARY,
     "rank 1 (local_rank: 1): exitcode -11 (pid: 4321): Signal 11 (SIGSEGV) received by PID 4321; "
     "first error printed: RuntimeError: [pair.cc:598] Connection closed by peer"),
    ("terminate called after throwing an instance of 'std::bad_alloc'\n",
     "terminate called after throwing std::bad_alloc"),
], ids=["an abort at the exit of a rank that raised", "a crash and its peer's error", "an abort without what()"])
def test_a_failed_runs_line_names_the_first_error_and_the_signal_that_killed_a_rank(tmp_path, log, says):
    (tmp_path / "launch.log").write_text(log)
    assert launch.failure_line(tmp_path / "launch.log") == says


def test_missing_launcher_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(launch.LaunchError, match=r"^mlx.launch not found beside .* \(install mlx\)$"):
        spec.run_ranks(Target("mlx", "cpu", "fp32"), spec.all_sizes("tiny"), 2, 1, False)


def test_taken_port_is_one_clear_error(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv(launch.PORT_ENV, str(port))
        with pytest.raises(launch.LaunchError, match=rf"^port {port} is taken"):
            spec.run_ranks(Target("torch", "cpu", "fp32"), spec.all_sizes("tiny"), 2, 1, False)


def test_more_ranks_than_devices_is_not_applicable(monkeypatch):
    with pytest.raises(Unavailable, match="4 ranks per machine, 2 CPU ranks"):
        spec.require_devices(Target("torch", "cpu"), 4, None)
    monkeypatch.setattr(spec.implementation("dp_train", "torch"), "gpu_count", lambda: 1)
    assert spec.unavailable(Target("torch", "gpu", "tf32"), {"ranks": 2}, "full") == \
        "dp_train: 2 ranks per machine, 1 torch GPUs here"
    assert spec.unavailable(Target("torch", "gpu", "tf32"), {"ranks": 1}, "full") is None
    assert "fp32 is not measured at this preset on the GPU" in spec.unavailable(Target("torch", "gpu", "fp32"),
                                                                                 {"ranks": 1}, "full")


def test_cpu_rows_need_two_cores_per_rank_of_the_largest_group(monkeypatch):
    """Timed CPU rows (not the check) are n/a where the largest R measured would share cores."""
    monkeypatch.setattr(spec.os, "sched_getaffinity", lambda pid: set(range(2)))
    reason = spec.untimed(Target("mlx", "cpu", "fp32"), {"ranks": 1}, "small")
    assert reason.startswith("timed on a CPU with 2 cores per rank (4 for 2 ranks; 2 here)")
    assert spec.unavailable(Target("mlx", "cpu", "fp32"), {"ranks": 2}, "small") is None  # the check runs it
    monkeypatch.setattr(spec.os, "sched_getaffinity", lambda pid: set(range(4)))
    assert spec.untimed(Target("mlx", "cpu", "fp32"), {"ranks": 2}, "small") is None
    assert spec.untimed(Target("mlx", "gpu", "tf32"), {"ranks": 2}, "small") is None


def test_hosts_file_becomes_both_launchers_command_lines(tmp_path):
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("# two machines\n10.9.8.1\n10.9.8.2  # second\n")
    hosts = launch.read_hosts(hosts_file)
    assert hosts == ["10.9.8.1", "10.9.8.2"]
    env = {"PYTHONPATH": "/repo", "OMP_NUM_THREADS": "8"}
    (mlx,) = launch.mlx_commands("nccl", 4, 5000, hosts, env, ["cfg.json"])
    assert mlx[0].endswith("mlx.launch")
    text = " ".join(mlx)
    assert "--backend nccl --hosts 10.9.8.1,10.9.8.2 -n 2" in text and "--nccl-port 5000" in text
    assert "--env=PYTHONPATH=/repo" in text and "--python " + sys.executable in text
    assert text.endswith("-- -m mlxvspt.workloads.dp_train.rank cfg.json")
    first, second = launch.torch_commands(4, 5000, hosts, env, ["cfg.json"])
    for node, command in enumerate((first, second)):
        assert command[:4] == ["ssh", "-o", "BatchMode=yes", hosts[node]]
        assert (f"--nnodes 2 --node-rank {node} --nproc-per-node 2 --master-addr 10.9.8.1 --master-port 5000"
                in command[4]) and "OMP_NUM_THREADS=8" in command[4]
    (local,) = launch.torch_commands(2, 5000, None, env, ["cfg.json"])
    assert local[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--master-addr" in local


def test_mlx_ranks_keep_to_the_gpus_the_launcher_was_given(monkeypatch):
    """mlx.launch hands rank r CUDA_VISIBLE_DEVICES=r (the host's GPU r): given GPUs 2,3 (another job on
    0,1), the launch passes them on and rank 1 maps its "1" to GPU 3; without a list nothing changes."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    (mlx,) = launch.mlx_commands("nccl", 2, 5000, None, {}, ["cfg.json"])
    assert "--env=MLXVSPT_HOST_GPUS=2,3" in mlx
    (ring,) = launch.mlx_commands("ring", 2, 5000, None, {}, ["cfg.json"])
    assert not any("HOST_GPUS" in part for part in ring)
    environ = {"MLXVSPT_HOST_GPUS": "2,3", "CUDA_VISIBLE_DEVICES": "1"}
    rank.own_gpu(environ)
    assert environ["CUDA_VISIBLE_DEVICES"] == "3"
    for untouched in ({"CUDA_VISIBLE_DEVICES": "1"}, {"MLXVSPT_HOST_GPUS": "2,3", "CUDA_VISIBLE_DEVICES": "2,3"}):
        before = dict(untouched)
        rank.own_gpu(untouched)
        assert untouched == before


@pytest.mark.parametrize("text, error", [("node1\n", "not an IP address"), ("# none\n", "no hosts")])
def test_bad_hosts_file_is_a_usage_error(tmp_path, text, error):
    (tmp_path / "hosts").write_text(text)
    with pytest.raises(UsageError, match=error):
        launch.read_hosts(tmp_path / "hosts")


def test_ranks_must_spread_evenly_over_hosts():
    with pytest.raises(UsageError, match="3 ranks cannot be spread evenly over 2 hosts"):
        launch.ranks_per_host(3, ["10.0.0.1", "10.0.0.2"])


def test_report_figures_invert_the_stored_times():
    """busbw as nccl-tests defines it: 256 MiB over 2 ranks in 1.24 ms is 216 GB/s (issue 18's MLX figure)."""
    (busbw, unit), = spec.figures("DPAllReduce.track_allreduce", {"nbytes": "268435456", "ranks": "2"}, 1.24e-3, {}).values()
    assert unit == "GB/s" and abs(busbw - 216.5) < 0.1
    assert spec.figures("DPTrain.track_time_over_ideal", {}, 1.25, {}) == {"scaling efficiency": (0.8, "fraction")}
    assert spec.figures("DPTrain.track_seconds_per_token", {}, 1e-4, {})["tokens/s"][0] == 1e4


def test_a_cpu_row_takes_the_cpu_sizes(monkeypatch):
    """asv passes the preset's top-level sizes: a CPU row still runs eager at fp32 (the "cpu" entry)."""
    from mlxvspt.measure.presets import sizes

    monkeypatch.setenv("MLXVSPT_PRESET", "small")
    cpu = spec.completed({**sizes("dp_train", "small"), "ranks": 2}, "cpu")
    gpu = spec.completed({**sizes("dp_train", "small"), "ranks": 2}, "gpu")
    assert (cpu["compile"], cpu["precisions"], cpu["ranks"]) == (False, ["fp32"], 2)
    assert (gpu["compile"], gpu["precisions"]) == (True, ["tf32", "bf16"])
