"""Run the asv suite, save results, publish the site.

`run` measures this Python environment (asv's "existing" environment, which saves results only with
--set-commit-hash: the hash is the ledger point of the installed releases). `history` lets asv build
one virtualenv per ledger point. The preset is part of the machine name so presets never share a graph.
"""
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import comparison, devices, ledger, presets, regressions, results, settings
from .progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def asv(*args, config, env=None, check=True, progress=None):
    """Run one asv command, its output into the run's log (`progress`) or else to the terminal;
    returns (exit code, output: "" without `progress`)."""
    cmd = [sys.executable, "-m", "asv", *args, "--config", str(config)]
    code, output = progress.command(cmd, env) if progress else (subprocess.run(cmd, env=env).returncode, "")
    if check and code != 0:
        where = f" (its output: {progress.log_path})" if progress else ""
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed with exit code {code}{where}")
    return code, output


def log_path(command):
    """Where a run's full asv output goes: .asv/logs/<command>-<UTC time>.log (git ignores .asv/)."""
    return ROOT / ".asv" / "logs" / f"{command}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"


def load_conf(path):
    """asv.conf.json allows // comments; asv's own loader does the same."""
    text = re.sub(r"^\s*//.*$", "", Path(path).read_text(), flags=re.M)
    return json.loads(text)


def write_conf(results_dir, html_dir, benchmark_dir=ROOT / "benchmarks"):
    """asv.conf.json with absolute paths, so results and site can live anywhere (tests use tmp dirs)."""
    conf = load_conf(ROOT / "asv.conf.json")
    conf.update(repo=str(ledger.LEDGER), benchmark_dir=str(benchmark_dir), env_dir=str(ROOT / ".asv" / "env"),
                results_dir=str(Path(results_dir).resolve()), html_dir=str(Path(html_dir).resolve()))
    # In ROOT, because asv's {conf_dir} (where install_pins.py is found) is the config file's folder.
    fd, path = tempfile.mkstemp(prefix=".asv-run-", suffix=".json", dir=ROOT)
    with os.fdopen(fd, "w") as f:
        json.dump(conf, f)
    return Path(path)


def machine_name(preset):
    """MLXVSPT_MACHINE (default: the host name) plus the preset."""
    return f"{os.environ.get(settings.MACHINE) or platform.node() or 'machine'}-{preset}"


def publish(config, env, html_dir, progress=None):
    """asv publish into a fresh folder, then swap it in: an interrupted publish leaves the old site."""
    html_dir = Path(html_dir).resolve()
    staging, old = html_dir.with_name(html_dir.name + ".new"), html_dir.with_name(html_dir.name + ".old")
    for stale in (staging, old):
        shutil.rmtree(stale, ignore_errors=True)
    conf = json.loads(Path(config).read_text())
    # the site follows the ledger's main branch (every point), whatever branch a run measured along
    conf.update(html_dir=str(staging), branches=load_conf(ROOT / "asv.conf.json")["branches"])
    results_dir = conf["results_dir"]
    with regressions.without_retired(results_dir) as shown:
        Path(config).write_text(json.dumps({**conf, "results_dir": str(shown)}))
        asv("publish", config=config, env=env, progress=progress)  # offline: asv.conf.json's plugin
    comparison.write(conf["results_dir"], staging)
    regressions.publish(results_dir, staging)
    if html_dir.exists():
        html_dir.rename(old)
    staging.rename(html_dir)
    shutil.rmtree(old, ignore_errors=True)


MACHINE_KEYS = ("os", "arch", "cpu", "num_cpu", "ram")  # asv's description of a machine beside its name


def describe_machine(machine, results_dir, config, env, point=None, progress=None):
    """asv's machine record (CPU, OS, RAM) plus `mlxvspt info` beside the results: versions, BLAS, GPU,
    as environment.txt (the latest run) and, for a run of this environment, environment-<point>.txt."""
    info = devices.environment()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    asv("machine", "--yes", "--machine", machine, "--os", info["platform"], "--arch", platform.machine(),
        "--cpu", info["cpu"], "--num_cpu", str(info["cpu_count"]), "--ram", str(ram), config=config, env=env,
        progress=progress)
    folder = Path(results_dir) / machine
    folder.mkdir(parents=True, exist_ok=True)
    # .txt: asv reads every .json under the results folder as a result file
    for name in ["environment.txt"] + ([f"environment-{point}.txt"] if point else []):
        (folder / name).write_text(json.dumps(info, indent=2) + "\n")


def modules(benchmark_dir, workloads=None):
    """The benchmark modules to run (bench_<workload>.py), optionally only some workloads."""
    names = sorted(p.stem for p in Path(benchmark_dir).glob("bench_*.py"))
    return [n for n in names if not workloads or n.removeprefix("bench_") in workloads]


def publish_results(results_dir, html_dir):
    """asv publish of a results folder as it is (e.g. after adding another machine's results)."""
    config = write_conf(results_dir, html_dir)
    try:
        publish(config, os.environ, html_dir)
    finally:
        config.unlink()


def cross_check(preset, out, env, workloads=None, progress=None):
    """`mlxvspt check` in a child process (the frameworks' state stays out of this one) on the selected
    devices at presets.CHECK_AT[preset], every line kept in `out` for the benchmarks to read, its output in
    the run's log (`progress`); returns its exit code (1: some combination disagrees; its rows get no
    verdict, the run goes on)."""
    chosen = settings.devices() or [d for d in devices.DEVICES if d == "cpu" or devices.gpu_anywhere()]
    cmd = [sys.executable, "-m", "mlxvspt", "check", "--preset", presets.CHECK_AT[preset], "--json", str(out)]
    cmd += [arg for d in chosen for arg in ("--device", d)]
    cmd += [arg for w in workloads or [] for arg in ("--workload", w)]
    return progress.command(cmd, env)[0] if progress else subprocess.run(cmd, env=env).returncode


def format_seconds(seconds):
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def record_wall_time(folder, point_name, started, benchmarks, code, resumed):
    """One line per run (a resumed run adds its part) in runs-<point>.jsonl beside the results: how long
    the cross-check and the benchmarks took on this machine."""
    line = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_seconds": round(time.time() - started, 1), "benchmarks": benchmarks, "exit_code": code,
            "resumed": resumed}
    with open(folder / f"runs-{point_name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def selected(results_dir, workloads=None, only=None, benchmark_dir=ROOT / "benchmarks"):
    """The benchmarks of the suite's last discovery (benchmarks.json) that a run of these workloads and
    --bench pattern measures, in the order it runs them."""
    names = modules(benchmark_dir, workloads)
    return [b for b in sorted(results.benchmarks(results_dir), key=time_first)
            if b.split(".")[0] in names and re.search(only or "", b)]


def time_first(benchmark):
    """Module by module, time_ benchmarks first: a training step's time_ process leaves the step's peak
    memory for its StepMemory twin (asvbench.leave_memory), which then builds nothing."""
    module, _, method = benchmark.split(".")
    return module, not method.startswith("time_"), benchmark


def restore_damaged(results_dir):
    """asv rewrites a results file in place at the end of each run: if a kill caught it half-written,
    put back the copy kept after the last complete run; then keep copies of the good files."""
    for path in Path(results_dir).glob("*/*.json"):
        backup = path.with_suffix(".json.bak")
        try:
            json.loads(path.read_text())
        except ValueError:
            if backup.is_file():
                shutil.copyfile(backup, path)
            continue
        shutil.copyfile(path, backup)


@contextmanager
def stopped_by_sigterm():
    """SIGTERM (`kill`, `timeout`, a scheduler) stops a run as Ctrl-C does: the exception reaches the asv
    command in flight, which kills every process asv started (progress.command), and the run's cleanup
    runs. Without it the asv forkserver and its benchmark processes went on as orphans."""
    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(preset, results_dir, html_dir, workloads=None, resume=False, points=None, benchmark_dir=None, only=None,
        verbose=False, log=None, recheck=True):
    """Benchmark, save, publish; returns (machine, exit code: non-zero if any benchmark failed).

    This environment (`points` None) is measured one benchmark at a time, each saved as it ends,
    so an interrupted run keeps what finished and `resume` completes only the rest. `points` names ledger
    entries instead: asv builds one virtualenv per entry and runs every module in each. `only` (a
    regular expression) keeps the benchmarks of this environment whose name it matches. One line per
    benchmark is printed; asv's whole output goes to `log` (default `log_path`), and to the terminal
    too with `verbose`. The cross-check runs first unless `resume`, or `recheck` is False and this point's
    check file exists (a check just run by `mlxvspt check --json` for the same install, e.g. at a larger preset).
    """
    with stopped_by_sigterm():
        return _run(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, only, verbose, log,
                    recheck)


def _run(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, only, verbose, log, recheck):
    """run() under its SIGTERM handler."""
    benchmark_dir = Path(benchmark_dir or ROOT / "benchmarks")
    # absolute: the records and check paths below are read by asv's benchmark processes, in their own cwd
    results_dir = Path(results_dir).resolve()
    ledger_points = ledger.build()
    config = write_conf(results_dir, html_dir, benchmark_dir)
    machine = machine_name(preset)
    run_folder = Path(tempfile.mkdtemp(prefix="mlxvspt-run-"))
    env = {**os.environ, settings.PRESET: preset, settings.RUN_FOLDER: str(run_folder)}
    names = modules(benchmark_dir, workloads)
    point_name = None
    if points is None:
        point_name, point = ledger.point_for_installed(ledger_points)
        folder = Path(results_dir) / machine
        env[settings.CHECKS] = str(folder / f"check-{point_name}.jsonl")
        env[settings.RECORDS] = str(folder / f"records-{point_name}.jsonl")
        # asv looks for existing results under its branches' heads: make the point the branch.
        conf = json.loads(config.read_text())
        config.write_text(json.dumps({**conf, "branches": [point_name]}))
        where = ["-E", f"existing:{sys.executable}", "--set-commit-hash", point]
        batches = None  # one per benchmark, once asv has discovered them
    else:
        # each virtualenv files its records (and its `mlxvspt info`) under the ledger point it holds
        env[settings.RECORDS] = str(Path(results_dir) / machine / "records-{point}.jsonl")
        env[settings.RELEASES] = str(ledger.RELEASES)
        hashes = Path(config).with_suffix(".hashes")
        hashes.write_text("".join(ledger.resolve(ledger_points, p)[1] + "\n" for p in points))
        where = [f"HASHFILE:{hashes}"]
        batches = [(f"{len(points)} ledger points, {len(names)} modules", [f"{name}\\." for name in names])]
    code = 0
    progress = Progress(log or log_path("run" if points is None else "history"), verbose)
    started = time.time()
    try:
        describe_machine(machine, results_dir, config, env, point_name, progress)
        if points is None and not resume and (recheck or not Path(env[settings.CHECKS]).is_file()):
            cross_check(preset, env[settings.CHECKS], env, workloads, progress)
        if batches is None:
            asv("run", *where, "--machine", machine, "--bench", "just-discover", config=config, env=env,
                progress=progress)
            batches = [(b.split(".", 1)[1], [f"{re.escape(b)}(\\(|$)"])
                       for b in selected(results_dir, workloads, only, benchmark_dir)]
        progress.begin(len(batches))
        for label, patterns in batches:
            restore_damaged(results_dir)
            # forkserver: asv forks each parameter combination from a process that imported the suite
            # once; spawning a fresh interpreter per combination cost ~0.3 s each, ~5 minutes over the
            # suite's ~1000 combinations (most of them n/a on any one machine). Frameworks are imported
            # after the fork, in the child.
            args = ["run", *where, "--machine", machine, "--show-stderr", "--record-samples",
                    "--launch-method", "forkserver", "--bench", "|".join(f"^{pattern}" for pattern in patterns)]
            if resume:
                args.append("--skip-existing-successful")
            progress.running(label)
            returned, output = asv(*args, config=config, env=env, check=False, progress=progress)
            progress.finished(label, output, returned)
            code = returned or code
        restore_damaged(results_dir)
        if point_name:
            record_wall_time(Path(results_dir) / machine, point_name, started, len(batches), code, resume)
            progress.say(f"wall time: {format_seconds(time.time() - started)} (cross-check and benchmarks)")
        publish(config, env, html_dir, progress)
    finally:
        progress.close()
        config.unlink()
        Path(config).with_suffix(".hashes").unlink(missing_ok=True)
        shutil.rmtree(run_folder, ignore_errors=True)
    return machine, code
