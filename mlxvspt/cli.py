"""`mlxvspt run | check | report | info`: a thin layer over the modules that do the work.

Bad input gets one line on stderr and exit code 2, before anything is written.
"""
import argparse
import json
import math
import os
import re
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

from .track import asvrun, bisect, confirm, merge, plan, update
from .publish import charts, release_diff, regressions, report, results, site
from .measure import check, devices, presets, profile, overhead, settings
from .workloads import fetch, inputs
from . import ledger, paths, workloads
from .errors import Unavailable, UsageError

SELECT_ENV = {"framework": settings.FRAMEWORKS, "device": settings.DEVICES, "precision": settings.PRECISIONS}
TIERS = {"standard": "standard", "cold": "cold", "diagnostic": "diagnostic", "all": "standard,cold,diagnostic"}
TAGLINE = "MLX vs PyTorch, measured the same way, release after release."
START = "New here? Start with `mlxvspt run`: it measures both frameworks and prints the table."
GROUPS = {  # the top-level help lists every command in one of these
    "measure": ("run", "check", "profile", "overhead", "info", "fetch"),
    "compare": ("report", "compare"),
    "track releases": ("history", "update", "confirm", "bisect", "ledger"),
    "publish": ("publish", "serve", "merge"),
}


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def framework_name(value):
    """--framework's value: mlx or torch, `pytorch` read as torch (what people call it)."""
    return "torch" if value.lower() == "pytorch" else value


def parser():
    p = Parser(prog="mlxvspt", usage="%(prog)s [-h] [--version] COMMAND ...",
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mlxvspt {version('mlxvspt')}")
    # the commands are listed by group in the description (overview), not in argparse's one flat list
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND",
                           help=argparse.SUPPRESS, prog="mlxvspt")

    def command(name, what, **kwargs):
        return sub.add_parser(name, description=what, **kwargs)

    run = command("run", "measure both frameworks here, publish the site, print the table")
    history = command("history", "measure release sets of the ledger, each in its own asv virtualenv")
    history.add_argument("points", nargs="*", help="ledger entries (default: all in releases.json)")
    check = command("check", "cross-check every workload's outputs in both frameworks, untimed")
    for cmd in (run, history, check):
        cmd.add_argument("--preset", help=f"{' | '.join(presets.NAMES)} (default: ${settings.PRESET} or "
                                          f"{presets.DEFAULT}; check defaults to tiny)")
        cmd.add_argument("--framework", action="append", type=framework_name,
                         help="mlx | torch (or pytorch; repeatable; default both)")
        cmd.add_argument("--device", action="append", help="cpu | gpu (repeatable; default both)")
        cmd.add_argument("--precision", action="append",
                         help=f"{' | '.join(devices.PRECISIONS)} (repeatable; default every one the preset has)")
        cmd.add_argument("--workload", action="append", help=f"{' | '.join(workloads.NAMES)} (repeatable)")
        for name, (_, what) in paths.INPUTS.items():
            cmd.add_argument(f"--{name.replace('_', '-')}", metavar="PATH", help=what)
    check.add_argument("--json", metavar="FILE", help="also write every line as JSON (one object a line)")
    run.add_argument("--bench", metavar="REGEX", help="only benchmarks whose name matches, e.g. BertTrainStep")
    run.add_argument("--budget", type=float, metavar="MINUTES",
                     help="refuse a selection that this machine's last durations say will not fit")
    for cmd in (run, history):
        cmd.add_argument("--headline", action="store_true",
                         help="only the combinations of the headline's rows (a fraction of a GPU point's time)")
        cmd.add_argument("--tier", choices=TIERS, default="standard",
                         help="standard (default) | cold: the first step of a fresh process (minutes a sample) | "
                              "diagnostic: the training paths' other compile settings (seed compiled, best "
                              "eager) | all")
        folders(cmd)
        cmd.add_argument("--resume", action="store_true", help="keep finished results, run only what is missing")
        cmd.add_argument("-v", "--verbose", action="store_true",
                         help="show asv's full output here too (it always goes to the log file named first)")
    rep = command("report", "MLX-vs-PyTorch tables from saved results (this machine's headline)",
                  epilog=f"The README's headline and the pages per machine: `{report.REGENERATE}`")
    folders(rep, site=False)
    rep.add_argument("--machine", action="append",
                     help="only this machine's results (repeatable; default: this host's machines if it has results, "
                          "else every machine not retired; the README and pages: every machine not retired)")
    rep.add_argument("--full", action="store_true", help="every row, with derived figures, not only the headline")
    rep.add_argument("--records", action="store_true", help="every row and what each framework ran (its run record)")
    rep.add_argument("--charts", metavar="DIR", help="also write PNG charts there (the pages link them)")
    rep.add_argument("--pages", metavar="DIR", help="write a page per committed machine there (docs/results)")
    rep.add_argument("--readme", metavar="FILE",
                     help="replace the headline between the README's report markers (needs --pages: it links them)")
    cmp = command("compare",
                  "ratios between two release sets of one machine; exit 1 if a changed framework's row is worse")
    cmp.add_argument("a", help="ledger entry name (or commit prefix): the baseline")
    cmp.add_argument("b", help="ledger entry name (or commit prefix): the candidate")
    cmp.add_argument("--factor", type=float, default=1.1, help="worse by more than this fails (default 1.1)")
    cmp.add_argument("--machine", help="machine of A (default: the only machine not retired with results at A and B)")
    cmp.add_argument("--machine-b", help="machine of B when comparing two machines (default: --machine)")
    folders(cmp, site=False)
    prof = command("profile", "kernel vs host time of one workload combination on an NVIDIA GPU")
    prof.add_argument("workload", help=f"{' | '.join(workloads.NAMES)}")
    prof.add_argument("param", nargs="*", help="NAME=VALUE: precision=tf32 and size overrides, e.g. n=1024 "
                                               "compile=True path=best")
    prof.add_argument("--preset", help=f"{' | '.join(presets.NAMES)} (default: {presets.DEFAULT})")
    prof.add_argument("--framework", action="append", type=framework_name,
                      help="mlx | torch (or pytorch; repeatable; default both)")
    prof.add_argument("--steps", type=int, default=3, help="unprofiled and profiled steps each (default 3)")
    prof.add_argument("--out", help="folder for the Chrome traces and profile.md (default profiles/<machine>)")
    over = command("overhead", "the suite's best training step vs a standalone best-practice script")
    over.add_argument("--workload", default="lm_train", help="lm_train (default)")
    over.add_argument("--preset", default=presets.DEFAULT,
                      help=f"{' | '.join(presets.NAMES)} (default {presets.DEFAULT})")
    over.add_argument("--device", default="cpu", help="cpu | gpu (default cpu)")
    over.add_argument("--framework", action="append", type=framework_name,
                      help="mlx | torch (or pytorch; repeatable; default both)")
    over.add_argument("--precision", help="fp32 | tf32 | bf16 | bf16-mixed (default tf32 on gpu, fp32 on cpu)")
    over.add_argument("--eager", action="store_true", help="not compiled (default: compiled, the best path)")
    over.add_argument("--steps", type=int, default=20, help="timed steps per measurement (default 20)")
    over.add_argument("--rounds", type=int, default=3, help="suite/standalone pairs, alternating (default 3)")
    pub = command("publish", "rebuild the site from the results as they are (e.g. copied in)")
    folders(pub)
    mrg = command("merge", "join a machine's results measured in parts into one folder")
    mrg.add_argument("dest", help="the machine's folder under results/, e.g. results/NVIDIA-H100-80GB-HBM3-full")
    mrg.add_argument("parts", nargs="+", help="the parts' machine folders (each with its machine.json)")
    srv = command("serve", "serve the published site on 127.0.0.1 (works offline)")
    folders(srv, results=False)
    srv.add_argument("--port", type=int, default=8080, help="the port on 127.0.0.1 (default: %(default)s)")
    get = command("fetch", "download a real dataset or checkpoint, print the flag that uses it")
    get.add_argument("what", choices=sorted(fetch.SOURCES))
    upd = command("update", "measure releases the ledger lacks; exit 1 on a confirmed regression")
    upd.add_argument("--dry-run", action="store_true", help="only list what would be added")
    upd.add_argument("--headline", action="store_true",
                     help="measure only the headline's rows of each new release set (each built once, as `run` "
                          "does): a GPU point in a quarter of an hour")
    con = command("confirm", "re-measure one row at two ledger points as an interleaved A/B")
    con.add_argument("a", help="ledger entry: the baseline")
    con.add_argument("b", help="ledger entry: the candidate")
    con.add_argument("row", help="the row's asv name, e.g. \"bench_matmul.Matmul.time_matmul('mlx', 'cpu', 'fp32', 256)\"")
    con.add_argument("--python", action="append", metavar="ENTRY=PATH",
                     help="a python holding ledger entry ENTRY's release set, used instead of a virtualenv built "
                          "for it (a machine without network: scripts/device_install.sh side writes one)")
    bis = command("bisect", "find the ledger point between A and B that made one row slower")
    bis.add_argument("a", help="ledger entry before the slowdown")
    bis.add_argument("b", help="ledger entry after it")
    bis.add_argument("bench", help="regular expression matching one row's asv name")
    for cmd in (upd, con, bis):
        cmd.add_argument("--preset", help=f"{' | '.join(presets.NAMES)} (default: history)")
        cmd.add_argument("--device", action="append", help="cpu | gpu (repeatable; default both)")
        cmd.add_argument("--factor", type=float, default=1.1, help="slower by more than this counts (default 1.1)")
        folders(cmd)
    command("ledger", "write .ledger/ from releases.json and list its points")
    command("info", "print what results depend on: versions, BLAS, CPU, GPU")
    p.description = overview(sub.choices)
    return p


def folders(cmd, results=True, site=True):
    """--results-dir and --html-dir, their defaults shown."""
    if results:
        cmd.add_argument("--results-dir", default=str(asvrun.ROOT / "results"),
                         help="the results folder (default: %(default)s)")
    if site:
        cmd.add_argument("--html-dir", default=str(asvrun.SITE),
                         help="the site's folder, which publishing replaces whole; the default is one git ignores, "
                              "the project's published site is html (default: %(default)s)")


def overview(commands):
    """The top-level help: where to start, then every command in its group with the line its --help opens with."""
    lines = [TAGLINE, "", START]
    for group, names in GROUPS.items():
        lines += ["", f"{group}:"]
        lines += [textwrap.fill(commands[name].description, 79, initial_indent=f"  {name:<9} ",
                                subsequent_indent=" " * 12) for name in names]
    return "\n".join(lines + ["", "`mlxvspt COMMAND --help`: what COMMAND is for and its options"])


def selection(args):
    """Validate every choice and input up front and export them for asv's child processes."""
    preset = args.preset or (os.environ.get(settings.PRESET) if args.command == "run" else None) or \
        ("tiny" if args.command == "check" else presets.DEFAULT)
    devices.choose("preset", preset, presets.NAMES)
    for kind, valid in (("framework", devices.FRAMEWORKS), ("device", devices.DEVICES),
                        ("precision", tuple(devices.PRECISIONS)), ("workload", workloads.NAMES)):
        for value in getattr(args, kind) or []:
            devices.choose(kind, value, valid)
    frameworks = args.framework or list(devices.FRAMEWORKS)
    if args.device and "gpu" in args.device:
        for fw in frameworks:
            if devices.framework_module(fw).gpu_backend() is None:
                raise UsageError(f"--device gpu: {fw} has no GPU backend here; valid devices: cpu")
    for name in paths.INPUTS:
        value = getattr(args, name)
        if value is not None:
            os.environ[paths.INPUTS[name][0]] = str(paths.checked(name, value).resolve())
    for kind, variable in SELECT_ENV.items():
        if getattr(args, kind):
            os.environ[variable] = ",".join(getattr(args, kind))
    if not args.device and not devices.gpu_anywhere():
        # every gpu combination is n/a here: say so once, before asv starts a process for each of them
        os.environ[settings.DEVICES] = "cpu"
    os.environ[settings.PRESET] = preset
    if getattr(args, "tier", None):
        os.environ[settings.TIERS] = TIERS[args.tier]
    inputs.check_all(preset, args.workload)
    return preset


def cmd_run(args):
    preset = selection(args)
    chosen = asvrun.modules(asvrun.ROOT / "benchmarks", args.workload)
    if args.bench:
        try:
            re.compile(args.bench)
        except re.error as exc:
            raise UsageError(f"--bench {args.bench!r}: not a regular expression ({exc})") from None
        every = list(devices.DEVICES)  # the suite's last discovery, on any device
        known = plan.parts(args.results_dir, chosen, devices=every)
        if known and not plan.parts(args.results_dir, chosen, args.bench, devices=every):
            example = next(iter(known.values()))[0][0]
            raise UsageError(f"--bench {args.bench!r}: matches none of the selected benchmarks (e.g. {example})")
    # from the last discovery, before anything is written (asvrun asks again; with --resume it alone, once it
    # has read which rows the results hold already)
    if args.budget is not None and not args.resume:
        planned = plan.parts(args.results_dir, chosen, args.bench, headline_at=preset if args.headline else None)
        _, estimates = plan.forecast(planned, asvrun.ROOT / "benchmarks", args.results_dir,
                                     asvrun.machine_name(preset), args.headline)
        plan.within(args.budget, estimates)
    machine, code = asvrun.run(preset, args.results_dir, args.html_dir, args.workload, args.resume, only=args.bench,
                               verbose=args.verbose, budget=args.budget, headline=args.headline)
    return finish(args, code, ledger.point_for_installed(ledger.build())[1])


def cmd_history(args):
    selection(args)
    known = ledger.build()
    points = [ledger.resolve(known, point)[0] for point in args.points] or [name for name, _ in known]
    machine, code = asvrun.run(os.environ[settings.PRESET], args.results_dir, args.html_dir,
                               args.workload, args.resume, points=points, verbose=args.verbose, headline=args.headline)
    return finish(args, code)


def shown(results_dir, named=None):
    """The machines a report shows: those named, else every one results/retired.txt does not retire (a
    retired machine leaves the report as it leaves the site)."""
    return named or [m for m in results.machines(results_dir) if m not in regressions.retired(results_dir)]


def finish(args, code, commit=None):
    """The end of run and history: the table of the machine just measured (at ledger `commit`, the release
    set a run measured; the newest where None), where every row and the site are, and exit 1 if any
    benchmark failed."""
    machine = asvrun.machine_name(os.environ[settings.PRESET])
    where = "" if Path(args.results_dir) == asvrun.ROOT / "results" else f" --results-dir {args.results_dir}"
    lines = report.console(args.results_dir, machine, commit)
    print("\n".join(lines) if lines else f"no results of {machine} in {args.results_dir}")
    print(f"every row: `mlxvspt report --machine {machine} --full{where}` (--records: what each framework ran); "
          "how to read a verdict: docs/methodology.md")
    serve = "" if Path(args.html_dir) == asvrun.SITE else f" --html-dir {args.html_dir}"
    print(f"site: {Path(args.html_dir) / 'index.html'} (view it with `mlxvspt serve{serve}`)")
    if code:
        print(f"some benchmarks failed (asv exit code {code}): their lines above say why, the log has the rest",
              file=sys.stderr)
    return 1 if code else 0


def cmd_check(args):
    """Every workload's cross-check on each chosen device: a line per quantity, exit 1 on any FAIL."""
    preset = selection(args)
    chosen_devices, chosen_workloads = args.device or ["cpu"], args.workload or workloads.NAMES
    if args.json:  # the lines of what this check does not run stay (a run of one workload keeps the others')
        check.keep_others(args.json, chosen_workloads, chosen_devices)
    passed = True
    for device in chosen_devices:
        for name in chosen_workloads:
            result = check.CheckResult(name, device)
            try:
                result = workloads.spec(name).check(preset, device)
            except Unavailable as exc:
                result.unavailable(str(exc))
            except Exception as exc:  # one workload failing never hides the others' results
                result.require("ran", False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            print("\n".join(result.lines), flush=True)
            passed &= result.passed
            if args.json:
                with open(args.json, "a") as f:
                    f.write(check.dump(result.entries))
    print("all checks agree" if passed else "DISAGREEMENT: see FAIL lines")
    return 0 if passed else 1


def cmd_report(args):
    """One machine's headline (or every row) on the terminal; or the README's headline, the results pages and
    the charts written, every output checked before any is."""
    if not Path(args.results_dir).is_dir():
        raise UsageError(f"--results-dir {args.results_dir}: no such folder (run `mlxvspt run` first)")
    known = results.machines(args.results_dir)
    for machine in args.machine or []:
        if machine not in known:
            raise UsageError(f"--machine {machine!r}: choose one of {', '.join(known)}")
    if args.readme and not args.pages:
        raise UsageError("--readme: needs --pages DIR (the README links each machine's page there)")
    if args.pages:
        report.pages_folder(args.pages)
    machines = shown(args.results_dir, args.machine)
    if not (args.readme or args.pages or args.charts):
        host = asvrun.machine_name("").removesuffix("-")
        here = [m for m in machines if m.rsplit("-", 1)[0] == host]
        print(report.table(args.results_dir, args.machine or here or machines, records=args.records)
              if args.full or args.records else report_summary(args.results_dir, args.machine or here or machines))
        return 0
    snaps = results.latest(args.results_dir, machines)
    charts_written = []
    if args.charts:
        charts_written = charts.bars(args.results_dir, args.charts, machines)
        charts_written += [charts.history(args.results_dir, args.charts, machine) for machine in machines]
        charts_written = [p for p in charts_written if p]
        print("charts: " + ", ".join(map(str, charts_written)))
    if args.pages:
        pages = report.write_pages(args.results_dir, args.pages, snaps, charts_written)
        print("pages: " + ", ".join(map(str, pages.values())))
        if args.readme:
            base = Path(args.readme).resolve().parent
            report.update_readme(args.readme, report.readme_block(
                snaps, {m: Path(os.path.relpath(p.resolve(), base)).as_posix() for m, p in pages.items()}))
            print(f"readme: {args.readme}")
    return 0


def report_summary(results_dir, machines):
    """Each machine's headline, then where the rest is."""
    out = []
    for machine in machines:
        out += report.console(results_dir, machine) + [""]
    out.append("every row: --full; what each framework ran: --records; the rules behind a verdict: "
               "docs/methodology.md")
    return "\n".join(out)


def cmd_compare(args):
    if not 1 < args.factor < math.inf:
        raise UsageError(f"--factor {args.factor}: must be a number greater than 1")
    lines, slower = release_diff.compare(args.results_dir, args.a, args.b, args.factor, args.machine, args.machine_b)
    print("\n".join(lines))
    return 1 if slower else 0


def cmd_profile(args):
    preset = args.preset or presets.DEFAULT
    devices.choose("preset", preset, presets.NAMES)
    for fw in args.framework or []:
        devices.choose("framework", fw, devices.FRAMEWORKS)
    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be at least 1")
    os.environ[settings.PRESET] = preset
    out = Path(args.out or asvrun.ROOT / "profiles" / asvrun.machine_name(preset))
    found = profile.profile(args.workload, args.param, args.framework or list(devices.FRAMEWORKS), args.steps, out)
    env = devices.environment()
    gpu = env["nvidia"] or "no NVIDIA driver"
    text = profile.table(args.workload, args.param, found, args.steps) + \
        f"\n\n{gpu}; mlx {env.get('mlx')}, torch {env.get('torch')}, preset {preset}"
    print(text)
    if all(isinstance(s, str) for s in found.values()):
        print("mlxvspt: error: no framework could run this combination here (see n/a above)", file=sys.stderr)
        return 1
    profile.write(out, text)
    return 0


def cmd_overhead(args):
    precision = args.precision or ("tf32" if args.device == "gpu" else "fp32")
    overhead.run(args.workload, args.preset, args.device, args.framework or list(devices.FRAMEWORKS), precision,
                 not args.eager, args.steps, args.rounds)
    return 0


def cmd_publish(args):
    if not (Path(args.results_dir) / "benchmarks.json").is_file():
        raise UsageError(f"--results-dir {args.results_dir}: no benchmarks.json there (run `mlxvspt run` first)")
    asvrun.publish_results(args.results_dir, args.html_dir)
    print(f"site: {Path(args.html_dir) / 'index.html'}")
    return 0


def cmd_serve(args):
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: choose 1-65535")
    site.serve(args.html_dir, args.port)
    return 0


def cmd_fetch(args):
    flag, path, what = fetch.SOURCES[args.what]()
    print(f"{flag} {path}    # {what}")
    return 0


def measurer(args):
    """The asv measurer for update / confirm / bisect, after checking their shared options."""
    preset = args.preset or "history"
    devices.choose("preset", preset, presets.NAMES)
    for value in args.device or []:
        devices.choose("device", value, devices.DEVICES)
    if not 1 < args.factor < math.inf:
        raise UsageError(f"--factor {args.factor}: must be a number greater than 1")
    if args.device and "gpu" in args.device and \
            all(devices.framework_module(fw).gpu_backend() is None for fw in devices.FRAMEWORKS):
        raise UsageError("--device gpu: neither framework has a GPU backend here; valid devices: cpu")
    pythons = given_pythons(getattr(args, "python", None))
    if args.device:
        os.environ[SELECT_ENV["device"]] = ",".join(args.device)
    os.environ[settings.PRESET] = preset
    asvrun.same_host(args.results_dir, asvrun.machine_name(preset))
    return update.AsvMeasurer(preset, args.results_dir, args.html_dir, factor=args.factor, pythons=pythons,
                              headline=getattr(args, "headline", False))


def given_pythons(values):
    """confirm's --python ENTRY=PATH options as {entry: path}, each entry in the ledger and each path a
    python that holds its release set."""
    pythons, entries = {}, {e["name"]: e for e in ledger.load()}
    for value in values or []:
        entry, _, path = value.partition("=")
        devices.choose("--python entry", entry, list(entries))
        if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UsageError(f"--python {value}: {path or '(no path)'} is not an executable file")
        confirm.check_holds(entries[entry], path)
        pythons[entry] = path
    return pythons or None


def cmd_update(args):
    return update.update(args.dry_run, measurer(args), factor=args.factor)


def cmd_confirm(args):
    """A row of the history re-measured as an interleaved A/B; its report filed (or an earlier one withdrawn)
    and the site published, as `update` does. A row the history lacks at A or B is measured and judged, not
    filed (a report quotes the history's values)."""
    m = measurer(args)
    known = ledger.build()
    a, b = (ledger.resolve(known, p)[0] for p in (args.a, args.b))
    rows = release_diff.known_rows(args.results_dir)
    if rows and args.row not in rows:
        raise UsageError(f"{args.row!r}: not a row of the suite (asv's name, e.g. {rows[0]})")
    try:
        row = next((r for r in m.rows(a, b) if r.name == args.row), None)
    except UsageError:  # no results of this machine
        row = None
    if row is None:
        samples = m.interleaved(args.row, a, b)
        verdict, report = confirm.verdict(*samples, args.factor), None
    else:
        verdict, report = update.confirm_row(m, row, a, b, {e["name"]: e for e in ledger.load()}, args.factor)
    unfiled = verdict.confirmed and report is None
    print(f"{args.row}: {a} -> {b}: {verdict.text()}" + (f"; report: {report}" if report else "")
          + (f" (not filed: {m.machine} has no history values of it at both points)" if unfiled else ""))
    if row is not None:  # the Regressions page shows what was filed or withdrawn
        m.publish()
    return 1 if verdict.confirmed else 0


def cmd_bisect(args):
    found = bisect.bisect(args.a, args.b, args.bench, measurer(args), args.factor)
    return 0 if found else 1


def cmd_ledger(args):
    for name, commit in ledger.build():
        print(f"{commit}  {name}")
    return 0


def cmd_info(args):
    print(json.dumps(devices.environment(), indent=2))
    return 0


def cmd_merge(args):
    merge.merge(args.dest, args.parts)
    print(f"merged {len(args.parts)} part(s) into {args.dest}")
    return 0


def check_outputs(args):
    """Every place the command writes, checked before anything runs."""
    if args.command != "serve" and getattr(args, "html_dir", None):
        paths.site_folder(args.html_dir, args.results_dir)
    if getattr(args, "charts", None):
        paths.writable("--charts", args.charts)
    if getattr(args, "json", None):
        paths.writable("--json", args.json, folder=False)
    if getattr(args, "readme", None):
        report.readme_text(args.readme)


def main(argv=None):
    try:
        argv = sys.argv[1:] if argv is None else argv
        if not argv:  # a bare `mlxvspt`: where to start
            parser().print_help()
            return 2
        args = parser().parse_args(argv)
        check_outputs(args)
        return {"run": cmd_run, "history": cmd_history, "check": cmd_check, "report": cmd_report,
                "compare": cmd_compare, "profile": cmd_profile, "overhead": cmd_overhead, "publish": cmd_publish,
                "serve": cmd_serve, "fetch": cmd_fetch, "ledger": cmd_ledger, "info": cmd_info,
                "update": cmd_update, "confirm": cmd_confirm, "bisect": cmd_bisect,
                "merge": cmd_merge}[args.command](args)
    except UsageError as exc:
        print(f"mlxvspt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; a run has kept what had ended
        print("mlxvspt: stopped; a run keeps the combinations that ended (the same command with --resume "
              "measures the rest)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
