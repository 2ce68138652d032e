"""Per-benchmark ratios between two ledger points (or two machines), asv-continuous style: a result
slower than `factor` times its baseline fails the comparison, unless asv's own test on the recorded
samples (as in `asv compare`) finds the two no different: then the row says `noise` and passes."""
from asv.commands.compare import _is_result_better  # asv compare's decision rule, samples included

from . import ledger, results
from .errors import UsageError
from .report import fmt


def measured(snapshot):
    """{(benchmark, framework, parameter values): (Cell, unit)} of every measured cell of a snapshot."""
    return {(row.benchmark, framework, tuple(row.params.values())): (cell, row.unit)
            for row in snapshot.rows for framework, cell in row.cells.items() if cell.ok}


def pick_machine(results_dir, machine):
    known = results.machines(results_dir)
    if machine is None and len(known) == 1:
        return known[0]
    if machine not in known:
        raise UsageError(f"--machine {machine!r}: choose one of the machines with results: "
                         f"{', '.join(known) or 'none (run mlxvspt run first)'}")
    return machine


def change(a, b, factor):
    """"slower", "faster", "noise" (beyond the factor, but asv's test finds no difference) or ""."""
    a_ss, b_ss = (a.stats, a.samples), (b.stats, b.samples)
    if _is_result_better(a.value, b.value, a_ss, b_ss, factor):
        return "slower"
    if _is_result_better(b.value, a.value, b_ss, a_ss, factor):
        return "faster"
    return "noise" if max(b.value / a.value, a.value / b.value) > factor else ""


def compare(results_dir, a, b, factor=1.1, machine=None, machine_b=None):
    """(lines of a markdown table, whether anything is slower than `factor`)."""
    points = ledger.build()
    (name_a, hash_a), (name_b, hash_b) = ledger.resolve(points, a), ledger.resolve(points, b)
    machine_a = pick_machine(results_dir, machine)
    machine_b = pick_machine(results_dir, machine_b or machine_a)
    base = measured(results.snapshot(results_dir, machine_a, hash_a))
    new = measured(results.snapshot(results_dir, machine_b, hash_b))
    if not base or not new:
        empty = name_a if not base else name_b
        raise UsageError(f"no results for {empty} on {machine_a if not base else machine_b}: run "
                         f"`mlxvspt history {empty}` first")
    lines = [f"{name_a} ({machine_a}) -> {name_b} ({machine_b}), factor {factor}", "",
             "| Benchmark | Params | A | B | B / A | |", "|---|---|---|---|---|---|"]
    slower = False
    for key in sorted(base.keys() & new.keys()):
        (cell_a, unit), (cell_b, _) = base[key], new[key]
        mark = change(cell_a, cell_b, factor)
        slower |= mark == "slower"
        name, framework, params = key
        lines.append(f"| {name} | {', '.join((framework, *params))} | {fmt(cell_a.value, unit)} | "
                     f"{fmt(cell_b.value, unit)} | {cell_b.value / cell_a.value:.3f} | {mark} |")
    lines.append("")
    lines.append("noise: beyond the factor, but asv's test on the samples finds A and B no different")
    lines.append(f"{'SLOWER: some benchmarks regressed by more than ' + str(factor) + 'x' if slower else 'no regression beyond ' + str(factor) + 'x'}")
    return lines, slower
