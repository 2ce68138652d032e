"""Per-benchmark ratios between two ledger points (or two machines), asv-continuous style: a result
slower than `factor` times its baseline fails the comparison, unless asv's own test on the recorded
samples (as in `asv compare`) finds the two no different: then the row says `noise` and passes. A row of
a framework whose releases are the same at both points (an MLX release measured against the one before,
PyTorch unchanged) never fails it: its move is the host's, and it is the control beside the other's row."""
import itertools
import math
import statistics
from dataclasses import dataclass

from asv import results as asv_results
from asv.commands.compare import _is_result_better  # asv compare's decision rule, samples included

from .. import ledger
from . import regressions, results
from ..errors import UsageError
from .report import HOST_MARK, HOST_NOTE, fmt

# how a table says mark()'s "slower" / "faster" of a figure, by its unit; any other unit is a time
WORDS = {"bytes": ("more memory", "less memory"), "rel. error": ("higher error", "lower error")}


def mark(a, b, a_ss, b_ss, factor):
    """"slower", "faster" (asv's test on the samples agrees), "noise" (beyond the factor, but the test
    finds no difference) or "", for values a -> b with their (stats, samples); "" where either is not
    above zero (no ratio)."""
    if min(a, b) <= 0:
        return ""
    if _is_result_better(a, b, a_ss, b_ss, factor):
        return "slower"
    if _is_result_better(b, a, b_ss, a_ss, factor):
        return "faster"
    return "noise" if max(b / a, a / b) > factor else ""


def measured(snapshot):
    """{(benchmark, framework, ((parameter, value), ...)): (Cell, unit)} of every measured cell of a snapshot."""
    return {(row.benchmark, framework, tuple(row.params.items())): (cell, row.unit)
            for row in snapshot.rows for framework, cell in row.cells.items() if cell.ok}


def said(mark_, unit, same_release=False):
    """mark() in the words of the figure's unit: "slower" only of a time, "more memory" of a peak memory;
    ", same release" after the move of a framework whose releases are the same at both points (the host's)."""
    worse, better = WORDS.get(unit, ("slower", "faster"))
    words = {"slower": worse, "faster": better}.get(mark_, mark_)
    return words + (", same release" if words and same_release else "")


def change(a, b, factor):
    """mark() for two results-layer cells."""
    return mark(a.value, b.value, (a.stats, a.samples), (b.stats, b.samples), factor)


def pick_machine(results_dir, machine, flag="--machine"):
    known = results.machines(results_dir)
    if machine is None and len(known) == 1:
        return known[0]
    if machine not in known:
        named = f"{flag} {machine!r}" if machine else f"{flag} is needed"
        raise UsageError(f"{named}: choose one of the machines with results: "
                         f"{', '.join(known) or 'none (run mlxvspt run first)'}")
    return machine


def measured_both(results_dir, hash_a, hash_b):
    """The one machine not retired with results at both commits, else None (then --machine is needed)."""
    gone = regressions.retired(results_dir)
    both = [m for m in results.machines(results_dir) if m not in gone and all(
        next(asv_results.iter_results_for_machine_and_hash(str(results_dir), m, h), None) for h in (hash_a, hash_b))]
    return both[0] if len(both) == 1 else None


def values(results_dir, machine, commit):
    """{(benchmark, asv's params as repr strings): (value, (stats, samples))} at one machine and commit,
    over every environment saved there (of two with a value, the one measured last, as `results` takes it):
    the names asv itself runs rows by (`confirm` re-runs them). Results of another benchmark version than
    benchmarks.json's are left out, as `results` leaves them."""
    sets = asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit)
    cells = results.current(sets, results.benchmarks(results_dir))
    return {key: (value, (st, sa)) for key, (value, st, sa) in cells.items()
            if value is not None and not math.isnan(value)}


def row_name(benchmark, combo):
    """asv's name for a row, e.g. bench_matmul.Matmul.time_matmul('mlx', 'cpu', 'fp32', 1024)."""
    return f"{benchmark}({', '.join(combo)})"


def known_rows(results_dir):
    """Every row name the current suite has (from benchmarks.json; [] before the first run)."""
    return [row_name(name, combo) for name, info in results.benchmarks(results_dir).items()
            for combo in itertools.product(*info.get("params", []))]


@dataclass
class Row:
    """One benchmark at one parameter combination, measured at A and at B."""
    benchmark: str
    combo: tuple
    a: float
    a_stats: tuple  # (stats, samples) as asv records them
    b: float
    b_stats: tuple
    unit: str
    param_names: tuple = ()

    @property
    def name(self):
        return row_name(self.benchmark, self.combo)

    @property
    def params(self):
        """"framework=mlx, compile=True": each value with its parameter's name."""
        return ", ".join(f"{name}={results.unquote(value)}" for name, value in zip(self.param_names, self.combo))

    def mark(self, factor):
        return mark(self.a, self.b, self.a_stats, self.b_stats, factor)

    @property
    def named(self):
        """{parameter: bare value}, e.g. {"framework": "mlx", "compile": "True"}."""
        return dict(zip(self.param_names, map(results.unquote, self.combo)))

    @property
    def framework(self):
        return self.named.get("framework")

    @property
    def host_bound(self):
        return results.Row(self.benchmark, self.named, self.unit, None, None).host_bound

    def of(self, framework):
        """(benchmark, combo) of the same row measured by `framework`."""
        i = self.param_names.index("framework")
        return self.benchmark, self.combo[:i] + (repr(framework),) + self.combo[i + 1:]


# Hosts whose single-core loop (devices.single_core_seconds) differs by more than this are not alike.
HOST_SPEED_DIFF = 0.10
# A re-run of a point (the same release set as a second machine, --machine-b) reproduces a value this close.
REPRODUCED = 0.05


def reproduced(found, within=REPRODUCED):
    """How many of the rows' B values lie within `within` of their A values, host-bound rows apart: what a
    re-run of a point on a second machine of one kind reproduced (docs/methodology.md gives the figures)."""
    pairs = [(abs(row.b / row.a - 1) <= within, row.host_bound) for row in found if row.a > 0]
    bound = [close for close, host_bound in pairs if host_bound]
    return (f"B within {within:.0%} of A: {sum(close for close, _ in pairs)} of {len(pairs)} values "
            f"(host-bound rows: {sum(bound)} of {len(bound)})")


def hosts(results_dir, a, b):
    """(a line saying whether the hosts of points a and b ((name, machine) each) were alike, whether they were
    of different kinds): host-bound rows compare hosts as well as releases where they were not, every row where
    the hosts' kinds differ (`results.hosts_differ`), and `confirm` re-measures such a row at both points on one
    host."""
    envs = [results.environment(results_dir, machine, name) for name, machine in (a, b)]
    kinds = [results.host_of(env) for env in envs]
    if results.hosts_differ(*kinds):
        return (f"hosts differ: {results.host_words(kinds[0])} at A, {results.host_words(kinds[1])} at B, so any "
                "row's change may be the host's; `mlxvspt confirm` measures a row at both points interleaved on one "
                "host"), True
    speeds = [(env.get("host_load") or {}).get("single_core_seconds") for env in envs]
    if None in speeds:
        said_ = "the host's single-core loop was not timed at both points"
    elif max(speeds) > (1 + HOST_SPEED_DIFF) * min(speeds):
        said_ = f"the host's single-core loop took {speeds[0]:.3g} s at A, {speeds[1]:.3g} s at B"
    else:
        return (f"hosts alike as their runs began: the single-core loop took {speeds[0]:.3g} s at A, {speeds[1]:.3g} s "
                "at B (one moment each: a host's loop flipped 2x within seconds; a control line above measures the "
                "host's move over the rows)"), False
    return (f"hosts: {said_}, so a host-bound row's change may be the host's; `mlxvspt confirm` measures a row "
            "at both points interleaved on one host"), False


FRAMEWORK_NAMES = {"mlx": "MLX", "torch": "PyTorch"}


def unchanged(name_a, name_b, pins=None):
    """The frameworks whose side (ledger.SIDES) ledger points a and b pin alike (`pins`: ledger.pins(), read
    here unless the caller has them): their rows ran the same code at both, so their moves are the host's (or
    the harness's), never a release's."""
    pins = ledger.pins() if pins is None else pins
    return {framework for framework in ledger.SIDES if ledger.same_releases(pins, name_a, name_b, framework)}


def none_changed(same):
    """Whether every framework's releases are the same at both points (`same`: unchanged's)."""
    return len(same) == len(ledger.SIDES)


def regressed(found, same, factor):
    """The rows worse than `factor` at B (mark "slower", whatever the unit) of a framework whose releases
    changed: one at the same releases at both points (`same`) never counts, nor any row where no release changed."""
    if none_changed(same):
        return []
    return [row for row in found if row.framework not in same and row.mark(factor) == "slower"]


def controls(found, same):
    """{(benchmark, combo): the other framework's same row}, for each row of a framework whose releases
    changed where the other's did not: the control's B / A is how far the host alone moved that figure
    (on one H100 kind, PyTorch's Whisper decoder read 2x slower at one MLX point than the one before)."""
    if len(same) != 1:  # both changed, or neither: no control
        return {}
    (other,) = same
    index = {(row.benchmark, row.combo): row for row in found}
    return {(row.benchmark, row.combo): index[row.of(other)] for row in found
            if row.framework in FRAMEWORK_NAMES and row.framework != other and row.of(other) in index}


def control_line(found, same):
    """What the rows of unchanged releases say: the host's share of every move between A and B."""
    if none_changed(same):
        return "no release changed between A and B: every move is the host's (or the harness's), none is a regression"
    framework = next(iter(same))
    name, pinned = FRAMEWORK_NAMES[framework], ", ".join(ledger.SIDES[framework])
    timed = [row for row in found if row.framework == framework and row.unit not in results.UNTIMED_UNITS
             and row.a > 0]
    if not timed:
        return (f"no control: {name}'s releases ({pinned}) are the same at A and B, but none of its timings was "
                "measured at both")
    moves = {bound: [row.b / row.a for row in timed if row.host_bound == bound] for bound in (True, False)}
    said_ = ", ".join(f"{statistics.median(ratios):.3g} over its {'host-bound' if bound else 'other'} timings"
                      for bound, ratios in moves.items() if ratios)
    return (f"control: {name}'s releases ({pinned}) are the same at A and B, so its rows' moves are the host's "
            f"(median B / A: {said_}) and never a regression; `control` beside the other framework's row is its "
            "same row's B / A")


def rows(results_dir, a, b, machine=None, machine_b=None):
    """((name A, machine A), (name B, machine B), [Row]) for every row measured at both points."""
    points = ledger.build()
    (name_a, hash_a), (name_b, hash_b) = ledger.resolve(points, a), ledger.resolve(points, b)
    if hash_a == hash_b and machine_b in (None, machine):
        raise UsageError(f"{a} and {b}: the same ledger point ({name_a}) of the same machine, nothing to compare; "
                         "name two points, or a second machine with --machine-b")
    machine_a = pick_machine(results_dir, machine or measured_both(results_dir, hash_a, hash_b))
    machine_b = pick_machine(results_dir, machine_b or machine_a, "--machine-b")
    base, new = values(results_dir, machine_a, hash_a), values(results_dir, machine_b, hash_b)
    if not base or not new:
        empty = name_a if not base else name_b
        raise UsageError(f"no results for {empty} on {machine_a if not base else machine_b}: run "
                         f"`mlxvspt history {empty}` first")
    meta = results.benchmarks(results_dir)
    found = [Row(key, combo, *base[key, combo], *new[key, combo], meta[key].get("unit", ""),
                 tuple(meta[key].get("param_names", ())))
             for key, combo in sorted(base.keys() & new.keys())]
    return (name_a, machine_a), (name_b, machine_b), found


def compare(results_dir, a, b, factor=1.1, machine=None, machine_b=None):
    """(lines of a markdown table, whether any row got worse than `factor`: slower, more memory, higher error,
    of a framework whose releases changed)."""
    (name_a, machine_a), (name_b, machine_b), found = rows(results_dir, a, b, machine, machine_b)
    same = unchanged(name_a, name_b)
    control = controls(found, same)
    lines = [f"{name_a} ({machine_a}) -> {name_b} ({machine_b}), factor {factor}", "",
             "| Benchmark | Params | A | B | B / A | control | |", "|---|---|---|---|---|---|---|"]
    for row in found:
        mark_ = row.mark(factor)
        words = said(mark_, row.unit, row.framework in same)
        other = control.get((row.benchmark, row.combo))
        name = row.benchmark + (HOST_MARK if row.host_bound else "")
        lines.append(f"| {name} | {row.params} | {fmt(row.a, row.unit)} | {fmt(row.b, row.unit)} | "
                     f"{row.b / row.a:.3f} | {f'{other.b / other.a:.3f}' if other and other.a > 0 else ''} | {words} |")
    lines.append("")
    lines.append("noise: beyond the factor, but asv's test on the samples finds A and B no different")
    if same:
        lines.append(control_line(found, same))
    lines.append(reproduced(found))
    bound = any(row.host_bound for row in found)
    host_line, differ = hosts(results_dir, (name_a, machine_a), (name_b, machine_b))
    if bound or differ:
        lines += [HOST_NOTE] * bound + [host_line]
    slower = bool(regressed(found, same, factor))
    lines.append(f"REGRESSED: some rows got worse by more than {factor}x" if slower else
                 f"no regression beyond {factor}x")
    return lines, slower
