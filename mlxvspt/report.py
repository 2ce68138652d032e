"""asv results -> the seed's table: one row per workload measurement, PyTorch time beside MLX time.

Every benchmark with a `framework` parameter gives rows: its other parameters label the row, the
two frameworks fill the columns. Only the latest result per machine is shown; asv's site holds the
history. A result whose samples vary by more than 5% (coefficient of variation) is marked `~`.
"""
import itertools
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from asv import results as asv_results

from . import presets
from .errors import UsageError

NOISY_CV = 0.05


@dataclass
class Cell:
    value: float = None  # None: failed, nan: n/a (skipped)
    cv: float = None

    def text(self, unit):
        if self.value is None:
            return "failed"
        if math.isnan(self.value):
            return "n/a"
        mark = " ~" if self.cv is not None and self.cv > NOISY_CV else ""
        return fmt(self.value, unit) + mark


def fmt(value, unit):
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "bytes":
        return f"{value / 2**20:.4g} MiB"
    return f"{value:.3g} {unit}"


def load_benchmarks(results_dir):
    path = Path(results_dir) / "benchmarks.json"
    if not path.is_file():
        return {}
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "version"}


def latest_results(results_dir):
    """{machine: Results of the newest commit date} for every machine in the results folder."""
    newest = {}
    for res in asv_results.iter_results(str(results_dir)):
        machine = res.params.get("machine")
        if machine not in newest or (res.date or 0) >= (newest[machine].date or 0):
            newest[machine] = res
    return newest


def cells(res, name, meta):
    """{params tuple: Cell} for one benchmark of one result set."""
    params = res.get_result_params(name)
    values = res.get_result_value(name, params)
    samples = res.get_result_samples(name, params) or [None] * len(values)
    out = {}
    for combo, value, sample in zip(itertools.product(*params), values, samples):
        cv = None
        if sample and len(sample) > 1 and statistics.fmean(sample) > 0:
            cv = statistics.stdev(sample) / statistics.fmean(sample)
        out[combo] = Cell(value, cv)
    return out


def rows(res, benchmarks, skipped):
    """(label, unit, torch Cell, mlx Cell) for every framework-parameterised benchmark; labels of
    rows where both frameworks were skipped go to `skipped` instead."""
    for name, rest, unit, torch, mlx in cells_by_row(res, benchmarks):
        label = name.split(".", 1)[1] + (f" ({', '.join(f'{k}={v}' for k, v in rest.items())})" if rest else "")
        if all(c.value is not None and math.isnan(c.value) for c in (torch, mlx)):
            skipped.append(label)
            continue
        yield label, unit, torch, mlx


def cells_by_row(res, benchmarks):
    """(benchmark, {param: value} but the framework, unit, torch Cell, mlx Cell) for every
    framework-parameterised benchmark of a result set."""
    for name in sorted(res.get_all_result_keys()):
        meta = benchmarks.get(name)
        if not meta or "framework" not in meta.get("param_names", []):
            continue
        names = meta["param_names"]
        fw = names.index("framework")
        grouped = {}
        for combo, cell in cells(res, name, meta).items():
            rest = tuple((n, v.strip("'")) for i, (n, v) in enumerate(zip(names, combo)) if i != fw)
            grouped.setdefault(rest, {})[combo[fw].strip("'")] = cell
        for rest, by_fw in grouped.items():
            yield name, dict(rest), meta.get("unit", ""), by_fw.get("torch", Cell(math.nan)), \
                by_fw.get("mlx", Cell(math.nan))


def verdict(torch, mlx, unit):
    usable = [c.value for c in (torch, mlx) if c.value is not None and not math.isnan(c.value)]
    if len(usable) < 2 or min(usable) <= 0:
        return "", ""
    ratio = mlx.value / torch.value
    better = "PyTorch" if ratio > 1 else "MLX"
    word = "faster" if unit == "seconds" else "lower"
    return f"{ratio:.3g}", f"{better} {max(ratio, 1 / ratio):.3g}x {word}"


def matmul_peaks(res):
    """{(device, precision): best TFLOP/s of either framework}: the device's measured peak."""
    key, peaks = "bench_matmul.Matmul.time_matmul", {}
    if key not in res.get_all_result_keys():
        return peaks
    params = res.get_result_params(key)
    for combo, value in zip(itertools.product(*params), res.get_result_value(key, params)):
        _, device, precision, n = (c.strip("'") for c in combo)
        if value is not None and not math.isnan(value):
            rate = 2 * int(n) ** 3 / value / 1e12
            peaks[device, precision] = max(peaks.get((device, precision), 0.0), rate)
    return peaks


def training_throughput(res, machine):
    """Tokens/s of the LM training step and its model FLOPs as a fraction of the matmul peak (MFU)."""
    from .workloads.lm_train.spec import flops_per_step

    key, preset = "bench_lm_train.LMTrain.time_step", machine.rsplit("-", 1)[-1]
    if key not in res.get_all_result_keys() or preset not in presets.NAMES:
        return []
    sizes, peaks = presets.sizes("lm_train", preset), matmul_peaks(res)
    params = res.get_result_params(key)
    cells = {}
    for combo, value in zip(itertools.product(*params), res.get_result_value(key, params)):
        values = [c.strip("'") for c in combo]
        framework, device, compile, precision = values[0], values[1], values[-2], values[-1]
        if len(values) == 5:  # version 2: a path param after device
            compile = f"{values[2]}, compile={compile}"
        if value is None or math.isnan(value):
            continue
        text = f"{sizes['batch'] * sizes['context'] / value:,.0f} tokens/s"
        peak = peaks.get((device, precision))
        if peak:
            text += f", MFU {flops_per_step(sizes) / value / 1e12 / peak:.0%} of {peak:.3g} TFLOP/s"
        cells.setdefault((device, compile, precision), {})[framework] = text
    lines = ["| LM training throughput | PyTorch | MLX |", "|---|---|---|"]
    for (device, compile, precision), by_fw in sorted(cells.items()):
        lines.append(f"| device={device}, compile={compile}, precision={precision} | {by_fw.get('torch', 'n/a')} "
                     f"| {by_fw.get('mlx', 'n/a')} |")
    return lines + ["", "MFU: model FLOPs per step / step time / the best matmul rate either framework reached "
                    "on this machine at that precision (n/a where the calibration did not run here).", ""]


def table(results_dir, machines=None):
    """Markdown: per machine (all, or those named), the seed's table with a ratio (MLX time / PyTorch
    time) and a verdict."""
    benchmarks = load_benchmarks(results_dir)
    out = []
    for machine, res in sorted(latest_results(results_dir).items()):
        if machines and machine not in machines:
            continue
        env = res.env_vars or {}
        out += [f"### {machine} (commit {res.commit_hash[:8]}, {res.env_name}{', ' + str(env) if env else ''})",
                "", "| Benchmark | PyTorch | MLX | MLX / PyTorch | Verdict |", "|---|---|---|---|---|"]
        skipped = []
        for label, unit, torch, mlx in rows(res, benchmarks, skipped):
            ratio, word = verdict(torch, mlx, unit)
            out.append(f"| {label} | {torch.text(unit)} | {mlx.text(unit)} | {ratio} | {word} |")
        out.append("")
        out += training_throughput(res, machine)
        if skipped:
            counts = {}
            for label in skipped:
                counts[label.split(" (")[0]] = counts.get(label.split(" (")[0], 0) + 1
            out += ["n/a in both frameworks here (parameter combinations): "
                    + ", ".join(f"{name} x{n}" for name, n in counts.items()), ""]
    if not out:
        return "no results yet: run `mlxvspt run` first\n"
    out.append(f"`n/a`: skipped on this machine (see the run log for why); `~`: samples vary by more than "
               f"{NOISY_CV:.0%} (coefficient of variation), read as noise.")
    return "\n".join(out) + "\n"


START, END = "<!-- mlxvspt report: start -->", "<!-- mlxvspt report: end -->"


def update_readme(readme, text, images):
    """Put the generated table and charts between the README's report markers (never typed by hand)."""
    readme = Path(readme)
    doc = readme.read_text()
    if START not in doc or END not in doc:
        raise UsageError(f"{readme} has no report markers ({START} ... {END})")
    links = "".join(f"![{Path(i).stem}]({Path(i).relative_to(readme.parent)})\n\n" for i in images)
    body = f"{START}\n<!-- generated by `mlxvspt report --readme`: do not edit -->\n\n{text}\n{links}{END}"
    readme.write_text(doc[:doc.index(START)] + body + doc[doc.index(END) + len(END):])


# The seed's table: one row per workload (per precision), each framework as its users run it: eager
# steps, transformers' `generate`, and the LLM row once more against PyTorch's fastest documented path.
HEADLINE = (
    ("Transformer LM training step, eager", "bench_lm_train.LMTrain.time_step", {"compile": "False"}, {}),
    ("Transformer LM training step, compiled", "bench_lm_train.LMTrain.time_step", {"compile": "True"}, {}),
    ("BERT pair-classifier training step, eager", "bench_bert_train.BertTrainStep.time_step",
     {"compile": "off"}, {}),
    ("Whisper tiny transcription, real-time factor", "bench_whisper.WhisperClips.track_real_time_factor",
     {}, {}),
    ("TinyLlama decode, PyTorch as transformers `generate`", "bench_llm.Generation.track_decode",
     {"path": "generate"}, {}),
    ("TinyLlama decode, PyTorch with static cache + torch.compile", "bench_llm.Generation.track_decode",
     {"path": "generate"}, {"path": "static-compile"}),
    ("CPU/GPU switch loop", "bench_switch.Switch.time_loop", {}, {}),
)


def device_name(results_dir, machine):
    """The GPU (or CPU) a machine's results came from, as its environment record gives it."""
    path = Path(results_dir) / machine / "environment.txt"
    env = json.loads(path.read_text()) if path.is_file() else {}
    versions = ", ".join(f"{k} {env[k]}" for k in ("mlx", "torch") if k in env)
    where = env.get("nvidia") or f"{env.get('cpu', 'unknown CPU')}, {env.get('cpu_count', '?')} cores"
    return f"{where}; {versions}" if versions else where


def headline(results_dir, machines=None):
    """Markdown: per machine, the seed-style summary (workload x PyTorch x MLX x ratio)."""
    benchmarks = load_benchmarks(results_dir)
    out = []
    for machine, res in sorted(latest_results(results_dir).items()):
        if machines and machine not in machines:
            continue
        found = {(name, tuple(sorted(rest.items()))): (unit, torch, mlx)
                 for name, rest, unit, torch, mlx in cells_by_row(res, benchmarks)}
        lines = []
        for title, name, fixed, torch_from in HEADLINE:
            for (key, rest), (unit, torch, mlx) in found.items():
                rest = dict(rest)
                if key != name or any(rest.get(k) != v for k, v in fixed.items()):
                    continue
                if torch_from:
                    torch = found.get((name, tuple(sorted({**rest, **torch_from}.items()))), (None, Cell(math.nan)))[1]
                if all(c.value is None or math.isnan(c.value) for c in (torch, mlx)):
                    continue
                ratio, word = verdict(torch, mlx, unit)
                extra = ", ".join(v for k, v in rest.items() if k not in fixed)
                lines.append(f"| {title}: {extra} | {torch.text(unit)} | {mlx.text(unit)} | {ratio} | {word} |")
        if lines:
            out += [f"#### {machine}: {device_name(results_dir, machine)}", "",
                    "| Workload | PyTorch | MLX | MLX / PyTorch | Verdict |", "|---|---|---|---|---|", *lines, ""]
    return "\n".join(out) + "\n" if out else ""
