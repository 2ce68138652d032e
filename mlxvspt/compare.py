"""Per-benchmark ratios between two ledger points (or two machines), asv-continuous style: a result
slower than `factor` times its baseline fails the comparison, unless asv's own test on the recorded
samples (as in `asv compare`) finds the two no different: then the row says `noise` and passes."""
import itertools
import math
from dataclasses import dataclass

from asv import results as asv_results
from asv.commands.compare import _is_result_better  # asv compare's decision rule, samples included

from . import ledger
from .errors import UsageError
from .report import fmt, load_benchmarks


def values(results_dir, machine, commit):
    """{(benchmark, params): (value, (stats, samples))} at one machine and commit, over every
    environment saved there."""
    out = {}
    for res in asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit):
        for key in res.get_all_result_keys():
            params = res.get_result_params(key)
            stats = res.get_result_stats(key, params)
            samples = res.get_result_samples(key, params) or [None] * len(stats)
            for combo, value, st, sa in zip(itertools.product(*params), res.get_result_value(key, params), stats,
                                            samples):
                if value is not None and not math.isnan(value):
                    out[key, combo] = value, (st, sa)
    return out


def machines(results_dir):
    return sorted({res.params.get("machine") for res in asv_results.iter_results(str(results_dir))})


def pick_machine(results_dir, machine):
    known = machines(results_dir)
    if machine is None and len(known) == 1:
        return known[0]
    if machine not in known:
        raise UsageError(f"--machine {machine!r}: choose one of the machines with results: "
                         f"{', '.join(known) or 'none (run mlxvspt run first)'}")
    return machine


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

    @property
    def name(self):
        """asv's name for the row, e.g. bench_matmul.Matmul.time_matmul('mlx', 'cpu', 'fp32', 1024)."""
        return f"{self.benchmark}({', '.join(self.combo)})"

    def mark(self, factor):
        """slower / faster (asv's test on the samples agrees), noise (beyond the factor, but it does not) or ""."""
        ratio = self.b / self.a
        if _is_result_better(self.a, self.b, self.a_stats, self.b_stats, factor):
            return "slower"
        if _is_result_better(self.b, self.a, self.b_stats, self.a_stats, factor):
            return "faster"
        return "noise" if max(ratio, 1 / ratio) > factor else ""


def rows(results_dir, a, b, machine=None, machine_b=None):
    """((name A, machine A), (name B, machine B), [Row]) for every row measured at both points."""
    points = ledger.build()
    (name_a, hash_a), (name_b, hash_b) = ledger.resolve(points, a), ledger.resolve(points, b)
    machine_a = pick_machine(results_dir, machine)
    machine_b = pick_machine(results_dir, machine_b or machine_a)
    base, new = values(results_dir, machine_a, hash_a), values(results_dir, machine_b, hash_b)
    if not base or not new:
        empty = name_a if not base else name_b
        raise UsageError(f"no results for {empty} on {machine_a if not base else machine_b}: run "
                         f"`mlxvspt history {empty}` first")
    units = {k: v.get("unit", "") for k, v in load_benchmarks(results_dir).items()}
    found = [Row(key, combo, *base[key, combo], *new[key, combo], units.get(key, ""))
             for key, combo in sorted(base.keys() & new.keys())]
    return (name_a, machine_a), (name_b, machine_b), found


def compare(results_dir, a, b, factor=1.1, machine=None, machine_b=None):
    """(lines of a markdown table, whether anything is slower than `factor`)."""
    (name_a, machine_a), (name_b, machine_b), found = rows(results_dir, a, b, machine, machine_b)
    lines = [f"{name_a} ({machine_a}) -> {name_b} ({machine_b}), factor {factor}", "",
             "| Benchmark | Params | A | B | B / A | |", "|---|---|---|---|---|---|"]
    slower = False
    for row in found:
        mark = row.mark(factor)
        slower |= mark == "slower"
        lines.append(f"| {row.benchmark} | {', '.join(c.strip(chr(39)) for c in row.combo)} | "
                     f"{fmt(row.a, row.unit)} | {fmt(row.b, row.unit)} | {row.b / row.a:.3f} | {mark} |")
    lines.append("")
    lines.append("noise: beyond the factor, but asv's test on the samples finds A and B no different")
    lines.append(f"{'SLOWER: some benchmarks regressed by more than ' + str(factor) + 'x' if slower else 'no regression beyond ' + str(factor) + 'x'}")
    return lines, slower
