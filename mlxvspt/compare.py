"""Per-benchmark ratios between two ledger points (or two machines), asv-continuous style: a result
slower than `factor` times its baseline fails the comparison, unless asv's own test on the recorded
samples (as in `asv compare`) finds the two no different: then the row says `noise` and passes."""
import itertools
import math

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


def compare(results_dir, a, b, factor=1.1, machine=None, machine_b=None):
    """(lines of a markdown table, whether anything is slower than `factor`)."""
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
    lines = [f"{name_a} ({machine_a}) -> {name_b} ({machine_b}), factor {factor}", "",
             "| Benchmark | Params | A | B | B / A | |", "|---|---|---|---|---|---|"]
    slower = False
    for key, combo in sorted(base.keys() & new.keys()):
        (a, a_ss), (b, b_ss) = base[key, combo], new[key, combo]
        ratio = b / a
        worse, better = _is_result_better(a, b, a_ss, b_ss, factor), _is_result_better(b, a, b_ss, a_ss, factor)
        mark = "slower" if worse else "faster" if better else "noise" if max(ratio, 1 / ratio) > factor else ""
        slower |= worse
        unit = units.get(key, "")
        lines.append(f"| {key} | {', '.join(c.strip(chr(39)) for c in combo)} | {fmt(a, unit)} | "
                     f"{fmt(b, unit)} | {ratio:.3f} | {mark} |")
    lines.append("")
    lines.append("noise: beyond the factor, but asv's test on the samples finds A and B no different")
    lines.append(f"{'SLOWER: some benchmarks regressed by more than ' + str(factor) + 'x' if slower else 'no regression beyond ' + str(factor) + 'x'}")
    return lines, slower
