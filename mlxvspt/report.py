"""The results layer's rows as the seed's table (markdown): PyTorch beside MLX, their ratio, a verdict.

Every benchmark with a `framework` parameter gives rows: its other parameters label the row, the
two frameworks fill the columns. Only the latest result per machine is shown; asv's site and the
comparison page hold the history. Each cell shows its spread (half the interquartile range of its
samples, as a share of the value).
"""
import os
from pathlib import Path

from . import results
from .errors import UsageError


def fmt(value, unit):
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "bytes":  # GiB from 10 GiB on: "6.852e+04 MiB" read badly
        return f"{value / 2**30:.3g} GiB" if value >= 10 * 2**30 else f"{value / 2**20:.4g} MiB"
    if unit == "fraction":
        return f"{value:.0%}"
    if unit == "tokens/s":
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{value:.3g} {unit}"


def spread(cell):
    """"±1.6%": half the interquartile range of the samples over the value; "" without samples."""
    if cell.spread is None or not cell.value:
        return ""
    q25, q75 = cell.spread
    return f" ±{(q75 - q25) / 2 / cell.value:.1%}"


def text(cell, unit):
    if cell.status != "ok":
        return cell.status
    return fmt(cell.value, unit) + spread(cell)


def ratio(row):
    return f"{row.ratio:.3g}" if row.ratio is not None else ""


def figures(cell):
    """"1,234 tokens/s, MFU 35% of 781 TFLOP/s": a cell's derived figures, as its workload declares them."""
    shown = [f"{name} {fmt(v, unit)}" if unit == "fraction" else fmt(v, unit)
             for name, (v, unit) in cell.figures.items() if name != "peak"]
    if "peak" in cell.figures:
        shown[-1] += f" of {fmt(*cell.figures['peak'])}"
    return ", ".join(shown) or "n/a"


def ran(cell):
    """A cell's run record in one line: what the framework actually ran, and its cross-check."""
    def flat(value):
        if isinstance(value, dict):
            return ", ".join(f"{k} {flat(v)}" for k, v in value.items())
        return str(value)
    detail = f" ({cell.check_detail})" if cell.check_detail else ""
    return f"{flat(cell.ran) or 'no record'}; check {cell.check}{detail}"


def stale_note(snapshot):
    if not snapshot.stale:
        return []
    names = ", ".join(sorted(name.split(".", 1)[1] for name in snapshot.stale))
    return [f"Skipped {len(snapshot.stale)} result(s) of another benchmark version than the current one "
            f"(asv's site hides them too): {names}.", ""]


def machine_table(snapshot):
    out = ["| Benchmark | PyTorch | MLX | MLX / PyTorch | Verdict |", "|---|---|---|---|---|"]
    skipped, derived, records = {}, [], []
    for row in snapshot.rows:
        if all(c.status == "n/a" for c in (row.torch, row.mlx)):
            skipped[row.method] = skipped.get(row.method, 0) + 1
            continue
        out.append(f"| {row.label} | {text(row.torch, row.unit)} | {text(row.mlx, row.unit)} | {ratio(row)} "
                   f"| {row.verdict} |")
        if row.torch.figures or row.mlx.figures:
            derived.append(f"| {row.label} | {figures(row.torch)} | {figures(row.mlx)} |")
        if row.torch.record or row.mlx.record:
            records.append(f"- {row.label}: PyTorch: {ran(row.torch)}. MLX: {ran(row.mlx)}.")
    out.append("")
    if derived:
        out += ["| Derived figures | PyTorch | MLX |", "|---|---|---|", *derived, "",
                "MFU: the workload's model FLOPs per second over the best matmul rate either framework reached "
                "on this machine at that precision (absent where the calibration did not run here).", ""]
    if records:
        out += ["What each framework ran (its run record):", "", *records, ""]
    if skipped:
        out += ["n/a in both frameworks here (parameter combinations): "
                + ", ".join(f"{name} x{n}" for name, n in skipped.items()), ""]
    return out + stale_note(snapshot)


def table(results_dir, machines=None):
    """Markdown: per machine (all, or those named), the seed's table with a ratio (MLX time / PyTorch
    time) and a verdict."""
    out = []
    for machine, snap in results.latest(results_dir, machines).items():
        out += [f"### {machine} (ledger point {snap.point or snap.commit[:8]}, {', '.join(snap.env_names)})", ""]
        out += machine_table(snap)
    if not out:
        return "no results yet: run `mlxvspt run` first\n"
    out.append(LEGEND)
    return "\n".join(out) + "\n"


LEGEND = (f"`n/a`: skipped on this machine (see the run log for why). `±`: half the interquartile range of the "
          f"samples, as a share of the value. A verdict needs both cells cross-checked (`unchecked` otherwise), "
          f"at least {results.MIN_SAMPLES} samples each, both taken in one process alternately where the class "
          f"alternates on that device (`not interleaved` otherwise), a timing's warm-up steady (`unsteady warm-up`), "
          f"and asv's significance test (as in `asv compare`) to find them different: `{results.NOISE}` where it "
          f"does not.")


START, END = "<!-- mlxvspt report: start -->", "<!-- mlxvspt report: end -->"


def readme_text(readme):
    """The README's text; one UsageError unless it is a file holding the report markers."""
    doc = Path(readme).read_text() if Path(readme).is_file() else ""
    if START not in doc or END not in doc:
        raise UsageError(f"--readme {readme}: not a file with the report markers ({START} ... {END})")
    return doc


def update_readme(readme, text, images):
    """Put the generated table and charts between the README's report markers (never typed by hand)."""
    doc = readme_text(readme)
    readme = Path(readme)
    links = "".join(f"![{Path(i).stem}]({Path(os.path.relpath(i, readme.parent)).as_posix()})\n\n" for i in images)
    body = f"{START}\n<!-- generated by `mlxvspt report --readme`: do not edit -->\n\n{text}\n{links}{END}"
    readme.write_text(doc[:doc.index(START)] + body + doc[doc.index(END) + len(END):])


# The seed's table: one row per workload (per precision), each framework as its users run it: eager
# steps, transformers' `generate`, and the LLM row once more against PyTorch's fastest documented path.
HEADLINE = (
    ("Transformer LM training step, eager", "bench_lm_train.LMTrain.time_step", {"compile": "False"}, {}),
    ("Transformer LM training step, compiled", "bench_lm_train.LMTrain.time_step", {"compile": "True"}, {}),
    ("Transformer LM training step, compiled, peak memory", "bench_lm_train.LMTrainMemory.track_peak_memory",
     {"compile": "True"}, {}),
    ("BERT pair-classifier training step, eager", "bench_bert_train.BertTrainStep.time_step",
     {"path": "seed", "compile": "False"}, {}),
    ("BERT pair-classifier training step, best path compiled", "bench_bert_train.BertTrainStep.time_step",
     {"path": "best", "compile": "True"}, {}),
    ("Whisper tiny transcription, real-time factor", "bench_whisper.WhisperClips.track_real_time_factor",
     {}, {}),
    ("TinyLlama decode, PyTorch as transformers `generate`", "bench_llm.Generation.track_decode",
     {"path": "generate"}, {}),
    ("TinyLlama decode, PyTorch with static cache + torch.compile", "bench_llm.Generation.track_decode",
     {"path": "generate"}, {"path": "static-compile"}),
    ("CPU/GPU switch loop", "bench_switch.Switch.time_loop", {}, {}),
)


def device_name(environment):
    """The GPU (or CPU) a machine's results came from, as its environment record gives it."""
    versions = ", ".join(f"{k} {environment[k]}" for k in ("mlx", "torch") if k in environment)
    where = environment.get("nvidia") or \
        f"{environment.get('cpu', 'unknown CPU')}, {environment.get('cpu_count', '?')} cores"
    return f"{where}; {versions}" if versions else where


def headline(results_dir, machines=None):
    """Markdown: per machine, the seed-style summary (workload x PyTorch x MLX x ratio)."""
    out = []
    for machine, snap in results.latest(results_dir, machines).items():
        found = {(row.benchmark, tuple(sorted(row.params.items()))): row for row in snap.rows}
        lines = []
        for title, name, fixed, torch_from in HEADLINE:
            for row in snap.rows:
                if row.benchmark != name or any(row.params.get(k) != v for k, v in fixed.items()):
                    continue
                if torch_from:
                    other = found.get((name, tuple(sorted({**row.params, **torch_from}.items()))))
                    row = results.Row(row.benchmark, row.params, row.unit, other.torch if other else results.Cell(),
                                      row.mlx)
                if all(c.status == "n/a" for c in (row.torch, row.mlx)):
                    continue
                extra = ", ".join(v for k, v in row.params.items() if k not in fixed)
                lines.append(f"| {title}: {extra} | {text(row.torch, row.unit)} | {text(row.mlx, row.unit)} "
                             f"| {ratio(row)} | {row.verdict} |")
        if lines:
            out += [f"#### {machine}: {device_name(snap.environment)}", "",
                    "| Workload | PyTorch | MLX | MLX / PyTorch | Verdict |", "|---|---|---|---|---|", *lines, "",
                    *stale_note(snap)]
    return "\n".join(out) + "\n" if out else ""
