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
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..measure import devices, settings
from ..measure.process import cache_files
from ..publish import comparison_page, regressions, results
from .. import jsonlines, ledger
from . import locks, plan, recorder, scratch, venvs
from ..errors import UsageError
from .progress import Progress

ROOT = ledger.ROOT
# Where a run publishes its site unless told: git ignores .asv/, so a run leaves html/, the project's
# published site (`mlxvspt publish --html-dir html` rebuilds it), as it is in the clone.
SITE = ROOT / ".asv" / "html"


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
    """Where a run's full asv output goes: <folder>/<command>-<UTC time>.log, the folder MLXVSPT_LOGS names or
    .asv/logs (git ignores .asv/)."""
    folder = Path(os.environ.get(settings.LOGS) or ROOT / ".asv" / "logs")
    return folder / f"{command}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"


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
    path = scratch.file(ROOT, ".asv-run-", ".json")
    path.write_text(json.dumps(conf))
    return path


def machine_name(preset):
    """MLXVSPT_MACHINE (default: the host name) plus the preset."""
    return f"{os.environ.get(settings.MACHINE) or platform.node() or 'machine'}-{preset}"


def same_host(results_dir, machine):
    """Refuse (UsageError, before anything is written) a run into the results of a machine whose latest run
    was on another kind of host (`devices.host_kind`: CPU model, cores, math extensions): one machine's history
    charts releases, not hosts. A record that cannot be read, or names no host, says nothing; the run replaces it."""
    try:
        before = results.host_of(json.loads((Path(results_dir) / machine / "environment.txt").read_text()))
    except (OSError, ValueError):
        return
    here = devices.host_kind()
    if results.hosts_differ(before, here):
        raise UsageError(f"{machine}: its results were measured on {results.host_words(before)} and this host is "
                         f"{results.host_words(here)}; name this host's machine otherwise ({settings.MACHINE}=...)")


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
    comparison_page.write(conf["results_dir"], staging)
    regressions.publish(results_dir, staging)
    if html_dir.exists():
        html_dir.rename(old)
    staging.rename(html_dir)
    shutil.rmtree(old, ignore_errors=True)


MACHINE_KEYS = ("os", "arch", "cpu", "num_cpu", "ram")  # asv's description of a machine beside its name


def describe_machine(machine, results_dir, config, env, point=None, progress=None, python=None):
    """asv's machine record (CPU, OS, RAM) plus `mlxvspt info` beside the results: versions, BLAS, GPU,
    as environment.txt (the latest run) and, for a run of one release set, environment-<point>.txt; read in
    `python` where another python than this one holds that set."""
    info = devices.environment() if python in (None, sys.executable) else environment_of(python, env)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    asv("machine", "--yes", "--machine", machine, "--os", os_family(info["platform"]), "--arch", platform.machine(),
        "--cpu", info["cpu"], "--num_cpu", str(info["cpu_count"]), "--ram", str(ram), config=config, env=env,
        progress=progress)
    folder = Path(results_dir) / machine
    folder.mkdir(parents=True, exist_ok=True)
    # .txt: asv reads every .json under the results folder as a result file
    for name in ["environment.txt"] + ([f"environment-{point}.txt"] if point else []):
        (folder / name).write_text(json.dumps(info, indent=2) + "\n")
    return info


def os_family(platform_string):
    """The OS as asv's machine record keeps it: system, kernel major.minor and architecture
    ("Linux-6.18.44-fc-v1294-gpu-x86_64-with-glibc2.39" -> "Linux-6.18-x86_64"). asv files graphs under it, and
    a GPU machine lent again came with another kernel build, which split one machine's history in two;
    the whole string stays in environment.txt."""
    system, release, *rest = platform_string.split("-")
    arch = next((part for part in rest if part in ("x86_64", "aarch64", "arm64")), None)
    return "-".join([system, ".".join(release.split(".")[:2])] + ([arch] if arch else []))


def environment_of(python, env):
    """`mlxvspt info`'s record (devices.environment) as another python reads it: its own releases."""
    return json.loads(subprocess.run([python, "-m", "mlxvspt", "info"], env=env, capture_output=True, text=True,
                                     check=True).stdout)


def modules(benchmark_dir, workloads=None):
    """The benchmark modules to run (bench_<workload>.py): every one in name order, or only the chosen
    workloads' in the order they were named (a run measures its parts in that order: the cheap ones first
    where a device lease may end before the run does)."""
    names = sorted(p.stem for p in Path(benchmark_dir).glob("bench_*.py"))
    if not workloads:
        return names
    return [f"bench_{w}" for w in dict.fromkeys(workloads) if f"bench_{w}" in names]


def publish_results(results_dir, html_dir):
    """asv publish of a results folder as it is (e.g. after adding another machine's results)."""
    config = write_conf(results_dir, html_dir)
    try:
        publish(config, os.environ, html_dir)
    finally:
        config.unlink()


def format_seconds(seconds):
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def record_wall_time(folder, point_name, started, benchmarks, code, resumed, parts=(), headline=False, host=None):
    """One line per run (a resumed run adds its part) in runs-<point>.jsonl beside the results: how long
    the run took on this machine and, per part (a workload on a device), its seconds and rows: what the
    next run's plan estimates from (mlxvspt.track.plan). `code` "interrupted": the parts that ended before
    the run was stopped; `headline`: the run measured the headline's rows alone (`--headline`); `host`:
    devices.host_load at its start, so a page whose rows come from several runs names each run's host
    (two quiet H100 machines' single-core loops ran 0.058 s and 0.113 s), with the single-core loop timed
    again at the end (one H100 host's read 0.118 s as a run began and 0.064 s 17 minutes later)."""
    line = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_seconds": round(time.time() - started, 1), "benchmarks": benchmarks, "exit_code": code,
            "resumed": resumed, "parts": list(parts), **({"selection": "headline"} if headline else {})}
    if host:
        line["host"] = {**host, "single_core_seconds_end": devices.single_core_seconds()}
    with open(folder / f"runs-{point_name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


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


STOPPING = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stopped_like_ctrl_c():
    """SIGTERM (`kill`, `timeout`, a scheduler) and SIGHUP (the terminal or ssh session closed) stop a run as
    Ctrl-C does: the exception reaches the asv command in flight, which kills every process asv started
    (progress.command), and the run's cleanup runs, keeping the finished combinations for --resume. Without
    it the asv forkserver and its benchmark processes went on as orphans, and a hang-up lost the part's
    finished lines and left the run's scratch behind."""
    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, terminate) for signum in STOPPING}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(preset, results_dir, html_dir, workloads=None, resume=False, points=None, benchmark_dir=None, only=None,
        verbose=False, log=None, budget=None, headline=False, pythons=None):
    """Benchmark, save, publish; returns (machine, exit code: non-zero if any benchmark failed).

    This environment (`points` None) is measured part by part, a part being one workload on one device
    in one measuring process (mlxvspt.measure.process), its rows recorded as it ends, so an interrupted run keeps
    what finished and `resume` measures only the rows without a result. `points` names ledger entries
    instead: asv builds one virtualenv per entry and runs every module in each, a process per row. `only`
    (a regular expression) keeps the benchmarks whose name it matches. One line per part is printed;
    the processes' whole output goes to `log` (default `log_path`), and to the terminal too with
    `verbose`. `budget` (minutes): refuse, before measuring, a selection this machine's last durations
    say will not fit. `headline`: only the headline's combinations (plan.in_headline); with `points`, each
    point is measured as this environment is, in a python holding its release set (`pythons` {point: python},
    else a virtualenv built for it), not by asv's process per row. Two runs into one results folder at
    once: the second is refused.
    """
    same_host(results_dir, machine_name(preset))
    with stopped_like_ctrl_c(), locks.held(Path(results_dir) / ".run.lock", "mlxvspt run"):
        if points is None:
            return _run_here(preset, results_dir, html_dir, workloads, resume, benchmark_dir, only, verbose, log,
                             budget, headline)
        if headline:
            return _run_each_point(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, verbose,
                                   log, budget, pythons)
        return _run_points(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, verbose, log)


def _run_each_point(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, verbose, log, budget,
                    pythons):
    """run() of ledger points' headline rows: each point in a python holding its release set (the one
    `pythons` names, else a virtualenv built once for the set: venvs.environment), one measuring process
    per workload and device as for this environment. A GPU point's headline took 13 minutes on an H100 this
    way; asv's process per row spent over an hour on the whole point."""
    entries, known = {e["name"]: e for e in ledger.load()}, ledger.build()
    machine, code = machine_name(preset), 0
    for wanted in points:
        name, commit = ledger.resolve(known, wanted)
        python = str((pythons or {}).get(name) or venvs.environment(entries[name]))
        machine, failed = _run_here(preset, results_dir, html_dir, workloads, resume, benchmark_dir, None, verbose,
                                    log, budget, True, python=python, point=(name, commit))
        code = code or failed
    return machine, code


def _prepared(preset, results_dir, html_dir, benchmark_dir):
    """(absolute results folder, asv config, machine name, run folder, environment for the children)."""
    # absolute: the records and check paths are read by benchmark processes, in their own cwd
    results_dir = Path(results_dir).resolve()
    config = write_conf(results_dir, html_dir, benchmark_dir)
    run_folder = scratch.folder("mlxvspt-run-")
    env = {**os.environ, settings.PRESET: preset, settings.RUN_FOLDER: str(run_folder)}
    return results_dir, config, machine_name(preset), run_folder, env


def _run_here(preset, results_dir, html_dir, workloads, resume, benchmark_dir, only, verbose, log, budget,
              headline, python=sys.executable, point=None):
    """run() of this Python environment (or of `python`, holding ledger `point` (name, commit)): one
    measuring process per workload and device."""
    benchmark_dir = Path(benchmark_dir or ROOT / "benchmarks")
    point_name, point = point or ledger.point_for_installed(ledger.build())
    results_dir, config, machine, run_folder, env = _prepared(preset, results_dir, html_dir, benchmark_dir)
    if python != sys.executable:  # this checkout's suite in that python (asv keeps only ASV_PYTHONPATH's entries)
        search = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.update(PYTHONPATH=search, ASV_PYTHONPATH=search)
    folder = results_dir / machine
    env[settings.CHECKS] = str(folder / f"check-{point_name}.jsonl")
    env[settings.RECORDS] = str(folder / f"records-{point_name}.jsonl")
    code, done = 0, []
    progress = Progress(log or log_path("run"), verbose)
    started = time.time()
    try:
        host = describe_machine(machine, results_dir, config, env, point_name, progress, python).get("host_load")
        asv("run", "-E", f"existing:{python}", "--set-commit-hash", point, "--machine", machine,
            "--bench", "just-discover", config=config, env=env, progress=progress)
        planned = plan.parts(results_dir, modules(benchmark_dir, workloads), only,
                             headline_at=preset if headline else None)
        if only and not planned:
            raise UsageError(f"--bench {only!r}: matches none of the selected benchmarks")
        if resume:
            kept = recorder.measured(config, machine, point)
            planned = {part: [r for r in rows if tuple(r) not in kept] for part, rows in planned.items()}
            planned = {part: rows for part, rows in planned.items() if rows}
        counts, estimates = plan.forecast(planned, benchmark_dir, results_dir, machine, headline,
                                          warm=compiled_files() > 0)
        for line in plan.describe(planned, counts, estimates):
            progress.say(line)
        plan.within(budget, estimates)
        progress.begin(planned, estimates)
        try:
            for (workload, device), rows in planned.items():
                part_started, files_before = time.time(), compiled_files()
                progress.running(f"{workload} on {device}")
                try:
                    lines, failure = measure_part(workload, device, rows, env, run_folder, benchmark_dir, progress,
                                                  python)
                except BaseException:  # stopped mid-part: its finished combinations are kept for --resume
                    kept = finished_lines(run_folder, workload, device)
                    if kept:
                        restore_damaged(results_dir)
                        recorder.record(config, machine, point, kept)
                        done.append(part_record(workload, device, preset, time.time() - part_started, len(kept),
                                                kept, stopped=True, compiled=compiled_files() - files_before))
                    raise
                restore_damaged(results_dir)
                recorder.record(config, machine, point, lines)
                seconds = time.time() - part_started
                done.append(part_record(workload, device, preset, seconds, len(rows), lines,
                                        planned=counts[(workload, device)], compiled=compiled_files() - files_before))
                code = progress.finished_part((workload, device), lines, seconds, failure) or code
        except BaseException:  # an interrupted run keeps its finished parts' durations for the next plan
            if done:
                record_wall_time(folder, point_name, started, len(planned), "interrupted", resume, done, headline,
                                 host)
            raise
        restore_damaged(results_dir)
        record_wall_time(folder, point_name, started, len(planned), code, resume, done, headline, host)
        progress.say(f"wall time: {format_seconds(time.time() - started)} (checks and benchmarks)")
        publish(config, env, html_dir, progress)
    finally:
        progress.close()
        config.unlink()
        shutil.rmtree(run_folder, ignore_errors=True)
    return machine, code


def part_record(workload, device, preset, seconds, rows, lines, **more):
    """A part's entry in the runs line: its wall time, the rows asked, those that got a value (not n/a, not
    failed: recorder.has_value) and, of a
    part that ended, those the plan counted to measure (`planned`, plan.to_measure), which the next plan's
    estimate scales by, the files it added to the compile caches (`compiled`: 0, it ran warm or compiles
    nothing), and the fingerprint of the sizes it ran (plan.sizes_key)."""
    return {"workload": workload, "device": device, "seconds": round(seconds, 1), "rows": rows,
            **more, "measured": sum(map(recorder.has_value, lines)),
            "sizes": plan.sizes_key(workload, preset)}


# A measuring process that writes no line for this long is stopped as hung (`Progress.command`), and fails only
# the combination it was on, as one that dies: its sampling has a deadline of its own (process.deadline), a
# build or a check step none. A combination writes a line as it ends; the longest seen took under 10 minutes
# (the cold first-step tier: 5 pairs of processes compiling, 90 s a pair on an H200).
SILENCE_SECONDS = 20 * 60


def measure_part(workload, device, rows, env, run_folder, benchmark_dir, progress, python=sys.executable):
    """Every row of one workload on one device, in one measuring process (of `python`); a process that dies or
    hangs (SILENCE_SECONDS) fails only the combination it was on (its "started" line names the rows) and a new
    one measures the rest. Returns (the rows' lines, why a process died or None)."""
    out = run_folder / f"{workload}-{device}.jsonl"
    request = run_folder / f"{workload}-{device}.request.json"
    lines, remaining, failure, first = [], [list(r) for r in rows], None, True
    while remaining:
        seen = out.stat().st_size if out.exists() else 0
        request.write_text(json.dumps({"workload": workload, "device": device, "rows": remaining, "first": first,
                                       "benchmark_dir": str(benchmark_dir), "out": str(out),
                                       "checks": env.get(settings.CHECKS), "cache_root": str(compile_root())}))
        first = False
        returned, output = progress.command([python, "-m", "mlxvspt.measure.process", str(request)], env,
                                            silence=SILENCE_SECONDS)
        written = out.read_bytes()[seen:].decode() if out.exists() else ""
        new = [json.loads(text) for text in written.splitlines() if text.strip()]
        lines += [line for line in new if "name" in line]
        done = {(line["name"], line["idx"]) for line in new if "name" in line}
        remaining = [r for r in remaining if tuple(r) not in done]
        if not remaining or (returned == 0 and done):  # a process measures one matmul policy: the next the rest
            continue
        last = next((t.strip() for t in reversed(output.splitlines()) if t.strip()), "no output")
        failure = f"the measuring process exited with code {returned}: {last}"
        progress.log.write(failure + "\n")
        begun = [line for line in new if "started" in line]
        lost = {tuple(r) for r in begun[-1]["rows"]} if begun and returned else {tuple(r) for r in remaining}
        lines += [{"name": name, "idx": idx, "result": None, "stderr": failure} for name, idx in remaining
                  if (name, idx) in lost]
        remaining = [r for r in remaining if tuple(r) not in lost]
    return lines, failure


def finished_lines(run_folder, workload, device):
    """The row lines a part's measuring processes wrote before the run was stopped: the combinations
    that ended (a combination writes its rows' lines only once all of them are measured)."""
    return [line for line in jsonlines.read(run_folder / f"{workload}-{device}.jsonl") if "name" in line]


def compile_root():
    """Where the measuring processes keep the compilers' caches between runs (mlxvspt.measure.process)."""
    from ..paths import cache_dir

    return cache_dir() / "compile"


def compiled_files():
    """How many files the compile caches the measuring processes will use hold now."""
    return sum(cache_files(compile_root()).values())


def _run_points(preset, results_dir, html_dir, workloads, resume, points, benchmark_dir, verbose, log):
    """run() of ledger points: asv builds a virtualenv per point and runs every module in it."""
    benchmark_dir = Path(benchmark_dir or ROOT / "benchmarks")
    ledger_points = ledger.build()
    results_dir, config, machine, run_folder, env = _prepared(preset, results_dir, html_dir, benchmark_dir)
    names = modules(benchmark_dir, workloads)
    # each virtualenv files its records (and its `mlxvspt info`) under the ledger point it holds
    env[settings.RECORDS] = str(results_dir / machine / "records-{point}.jsonl")
    env[settings.RELEASES] = str(ledger.RELEASES)
    hashes = Path(config).with_suffix(".hashes")
    hashes.write_text("".join(ledger.resolve(ledger_points, p)[1] + "\n" for p in points))
    label = f"{len(points)} ledger points, {len(names)} modules"
    code = 0
    progress = Progress(log or log_path("history"), verbose)
    try:
        describe_machine(machine, results_dir, config, env, None, progress)
        progress.begin({label: [label]}, {label: None})
        restore_damaged(results_dir)
        # forkserver: asv forks each parameter combination from a process that imported the suite once
        args = ["run", f"HASHFILE:{hashes}", "--machine", machine, "--show-stderr", "--record-samples",
                "--launch-method", "forkserver", "--bench", "|".join(f"^{name}\\." for name in names)]
        if resume:
            args.append("--skip-existing-successful")
        progress.running(label)
        code, output = asv(*args, config=config, env=env, check=False, progress=progress)
        progress.finished(label, output, code)
        restore_damaged(results_dir)
        publish(config, env, html_dir, progress)
    finally:
        progress.close()
        config.unlink()
        hashes.unlink(missing_ok=True)
        shutil.rmtree(run_folder, ignore_errors=True)
    return machine, code
