"""Starting the ranks of a data-parallel run and making sure none outlives it.

The launchers are the ones users run: `mlx.launch` (MLX) and `python -m torch.distributed.run`
(torchrun), each started in its own session with a timeout. torchrun starts its workers in sessions of
their own, so a process group is not enough: every process descended from a launcher is recorded
while it runs and killed at the end if still alive (a hung rank, a crashed peer, a launcher that
exited early). A hosts file (`--hosts`, one IP address a line, this machine first) spreads the ranks
evenly over machines: mlx.launch reaches them by ssh itself, torchrun is started on each by ssh;
the checkout and python must sit at the same paths on every machine.
"""
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ...errors import UsageError
from ...measure.settings import HOST_GPUS
from ...measure.processes import family, stop

PORT_ENV = "MLXVSPT_DP_PORT"  # a fixed first port (e.g. one a firewall lets through); default: a free one
ENTRY = ["-m", "mlxvspt.workloads.dp_train.rank"]
LOCAL = ("127.0.0.1", "localhost")
# What a failed run's log says (see failure_line).
RAISED = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b")
LAUNCHER_RAISED = re.compile(r"^torch\.distributed\.elastic\.\S*ChildFailedError\b")
TERMINATE = re.compile(r"^terminate called after throwing an instance of '(.+)'")
TORCHRUN_FIELD = re.compile(r"^(rank|exitcode|traceback)\s*:\s*(.*)$")
SIGNALLED = re.compile(r"(exitcode|exited with code):? -\d")  # a negative exit code: killed by a signal
LAUNCHER_SAID = re.compile(r"error:", re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class LaunchError(RuntimeError):
    """A run that started and failed (crash, hang, missing launcher, taken port): the row fails."""


def read_hosts(path):
    """The IP addresses of a hosts file, in order; '#' starts a comment. One clear UsageError if bad."""
    hosts = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        host = line.split("#", 1)[0].strip()
        if not host:
            continue
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"--hosts {path}: line {number}: {host!r} is not an IP address "
                             f"(the ring and NCCL launchers connect by address)") from None
        hosts.append(host)
    if not hosts:
        raise UsageError(f"--hosts {path}: no hosts listed")
    return hosts


def ranks_per_host(ranks, hosts):
    if ranks % len(hosts):
        raise UsageError(f"{ranks} ranks cannot be spread evenly over {len(hosts)} hosts")
    return ranks // len(hosts)


def free_port(count):
    """The first of `count` consecutive free TCP ports (the ring backend takes one per rank);
    MLXVSPT_DP_PORT fixes it, and a taken one is a LaunchError."""
    fixed = os.environ.get(PORT_ENV)
    if fixed:
        first = int(fixed)
        taken = [p for p in range(first, first + count) if not bindable(p)]
        if taken:
            raise LaunchError(f"port {taken[0]} is taken ({PORT_ENV}={fixed} needs ports {first}-"
                              f"{first + count - 1} free); choose another or unset it")
        return first
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("", 0))
            first = s.getsockname()[1]
        if first + count < 65536 and all(bindable(p) for p in range(first, first + count)):
            return first
    raise LaunchError(f"found no {count} consecutive free ports")


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("", port))
            return True
        except OSError:
            return False


def mlx_launcher():
    """mlx.launch beside this python (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / "mlx.launch"
    found = str(beside) if beside.is_file() else shutil.which("mlx.launch")
    if not found:
        raise LaunchError(f"mlx.launch not found beside {sys.executable} or on PATH (install mlx)")
    return found


def torch_launcher():
    import importlib.util

    if importlib.util.find_spec("torch.distributed.run") is None:
        raise LaunchError(f"torch.distributed.run not found for {sys.executable} (install torch)")
    return [sys.executable, "-m", "torch.distributed.run"]


def mlx_commands(backend, ranks, port, hosts, env, args):
    """One mlx.launch for all hosts: it repeats each host `ranks_per_host` times (and gives each of a
    host's ranks its own GPU: --hostfile would give them all GPU 0 under NCCL)."""
    hosts = hosts or ["127.0.0.1"]
    if backend == "nccl" and os.environ.get("CUDA_VISIBLE_DEVICES"):
        env = {**env, HOST_GPUS: os.environ["CUDA_VISIBLE_DEVICES"]}  # see rank.own_gpu
    command = [mlx_launcher(), "--backend", backend, "--hosts", ",".join(hosts),
               "-n", str(ranks_per_host(ranks, hosts)), "--cwd", os.getcwd(), "--python", sys.executable,
               "--nccl-port" if backend == "nccl" else "--starting-port", str(port)]
    command += [f"--env={k}={v}" for k, v in sorted(env.items())]
    return [command + ["--", *ENTRY, *args]]


def torch_commands(ranks, port, hosts, env, args):
    """One torchrun per host (static rendezvous at the first host); ssh to each remote one."""
    hosts = hosts or ["127.0.0.1"]
    commands = []
    for node, host in enumerate(hosts):
        command = [*torch_launcher(), "--nnodes", str(len(hosts)), "--node-rank", str(node),
                   "--nproc-per-node", str(ranks_per_host(ranks, hosts)), "--master-addr", hosts[0],
                   "--master-port", str(port), *ENTRY, *args]
        if host not in LOCAL and not is_this_machine(host):
            remote = f"cd {shlex.quote(os.getcwd())} && env " + shlex.join(
                [f"{k}={v}" for k, v in sorted(env.items())] + command)
            command = ["ssh", "-o", "BatchMode=yes", host, remote]
        commands.append(command)
    return commands


def is_this_machine(host):
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            return True
    except OSError:
        return False


def rank_environment(ranks_here):
    """What every rank needs: this checkout importable, the suite's choices (MLXVSPT_*), and the CPU
    cores shared evenly (torchrun would set OMP_NUM_THREADS=1 for several ranks)."""
    root = str(Path(__file__).resolve().parents[3])
    env = {k: v for k, v in os.environ.items() if k.startswith("MLXVSPT_") and k != PORT_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // ranks_here))
    return env


def supervise(commands, env, timeout, log, what):
    """Run the launcher commands to the end or `timeout` seconds, output to `log`; afterwards no
    process they started is left. Returns the launchers' exit codes."""
    seen = {}
    with open(log, "w") as out:
        procs = [subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, **env}, start_new_session=True)
                 for c in commands]
        deadline = time.monotonic() + timeout
        try:
            while any(p.poll() is None for p in procs):
                for p in procs:
                    seen.update(family(p.pid))
                if time.monotonic() > deadline:
                    raise LaunchError(f"{what}: no result within {timeout:g} s (a hung rank?); "
                                      f"stopped the launcher and its ranks (log: {log})")
                time.sleep(0.1)
        finally:
            for p in procs:  # freeze each launcher's group first: no rank can be started past the snapshot
                signal_group(p.pid, signal.SIGSTOP)
            for p in procs:
                seen.update(family(p.pid))
                signal_group(p.pid, signal.SIGKILL)
            stop(seen)
            for p in procs:
                p.wait()
    return [p.returncode for p in procs]


def signal_group(leader, sig):
    """Signal the process group a launcher leads (its pid stays the group's id while any member lives)."""
    try:
        os.killpg(leader, sig)
    except (ProcessLookupError, PermissionError):
        pass


def failure_line(log):
    """The line of a launcher's log that says what went wrong: the first error a rank printed (a Python
    exception or a C++ abort; peers' and launchers' follow, as does an abort at the exit of a rank that
    raised), and before it the rank a signal killed where one did (a crash prints nothing itself, so a
    peer's error may be all that was printed); else torchrun's root cause, the first rank mlx.launch saw
    exit, the launchers' last word."""
    lines = [ANSI.sub("", line).strip() for line in Path(log).read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    printed = [aborted(lines, n) if TERMINATE.match(line) else line for n, line in enumerate(lines)
               if TERMINATE.match(line) or (RAISED.search(line) and not LAUNCHER_RAISED.search(line))]
    root = [cause for cause in [torchrun_root_cause(lines)] if cause]
    exited = [line for line in lines if "exited with code" in line]
    first_out = root or exited[:1]  # the first rank to end (others may be stopped after it)
    killed = [line for line in first_out if SIGNALLED.search(line)]
    said = [line for line in lines if LAUNCHER_SAID.search(line)]
    if killed and printed:
        return f"{killed[0]}; first error printed: {printed[0]}"[:300]
    for found in (killed, printed, root, exited, said[-1:], lines[-1:]):
        if found:
            return found[0][:300]
    return "no output"


def torchrun_root_cause(lines):
    """torchrun's summary of the first rank to fail ("rank 1 (local_rank: 1): exitcode -6 (pid: ...)
    (SIGABRT): Signal 6 (SIGABRT) received by PID ..."), or None."""
    start = next((n for n, line in enumerate(lines) if line.startswith("Root Cause")), None)
    if start is None:
        return None
    fields = {}
    for line in lines[start + 1:]:
        if line.startswith("===="):  # the summary's end
            break
        match = TORCHRUN_FIELD.match(line)
        if match:
            fields.setdefault(match[1], " ".join(match[2].split()))
    return f"rank {fields.get('rank', '?')}: exitcode {fields.get('exitcode', '?')}: {fields.get('traceback', '')}"


def aborted(lines, n):
    """A C++ terminate at lines[n] and the `what():` line that follows it, as one line."""
    kind = TERMINATE.match(lines[n])[1]
    what = next((line.split("what():", 1)[1].strip() for line in lines[n + 1:n + 4] if "what():" in line), "")
    return f"{kind}: {what}" if what else f"terminate called after throwing {kind}"
