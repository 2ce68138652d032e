"""asv results, read once for every renderer (report, compare, charts, the comparison page).

Reads results/benchmarks.json (the current benchmarks and their versions), asv's result files and,
beside them, `<machine>/records-<point>.jsonl` (per framework cell: what it actually ran and whether
its cross-check passed; the latest line for a benchmark and parameters wins) and the environment
record. Gives, per machine and ledger point, one Row per benchmark and parameter combination but the
framework: both frameworks' Cells (value, samples, spread, record, derived figures), their ratio with
its confidence interval from the samples, and a verdict that interval backs. Results of another
benchmark version are skipped and counted, as asv's site hides them.

Derived figures are declared by each workload's spec: `figures(method, params, seconds, sizes)` ->
{name: (value, unit)}; a spec whose `PEAK` names one of its figures calibrates the machine: that
figure's best value per (device, precision) divides every other workload's figure of the same name
(MFU, "model FLOP utilisation").
"""
import itertools
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from asv import results as asv_results

from ..measure import check, presets
from .. import jsonlines, ledger, workloads

MIN_SAMPLES = 5
LEVEL = 0.99  # the ratio interval's confidence: the strictest that MIN_SAMPLES against MIN_SAMPLES reach (99.2%)
MIN_EFFECT = 1.01  # the least factor a verdict names: a smaller one could print as "1x faster"
NOISE = "≈ (within noise)"
UNTIMED_UNITS = ("bytes", "rel. error")  # figures the minute they were taken in and warm-up jitter do not move
ACCURACY_UNIT = "rel. error"  # one deterministic number a framework computes: a value to read, not a timing
ACCURACY = "accuracy: no timing verdict"
# energy over all of a row's samples, one figure (asvbench.MeasuredOnce.pooled: NVML's counter is too coarse
# for a sample's joules): a value to read beside the timings, with no spread to test
POOLED_UNITS = ("J/step", "J/audio s")
POOLED = "one pooled figure: no verdict"
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def unquote(value):
    """asv stores parameter values as their repr ("'mlx'"); records and labels use the bare value."""
    value = str(value)
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value


@dataclass
class Cell:
    """One framework's measurement of one benchmark and parameter combination."""
    value: float = math.nan  # None: failed; nan: n/a (skipped here, or not run)
    samples: list = None
    stats: dict = None
    record: dict = None  # the records-file line: "ran", "check", "check_detail"
    figures: dict = field(default_factory=dict)  # derived: {name: (value, unit)}

    @property
    def ok(self):
        return self.value is not None and not math.isnan(self.value)

    @property
    def status(self):
        return "ok" if self.ok else "failed" if self.value is None else "n/a"

    @property
    def kept(self):
        """Its samples that hold a number (none where asv did not keep them)."""
        return [s for s in self.samples or () if s is not None and not math.isnan(s)]

    @property
    def n(self):
        """How many samples the value is the median of (asv's count where samples were not kept)."""
        if self.samples:
            return len(self.kept)
        return (self.stats or {}).get("repeat") or 0

    @property
    def sampled(self):
        """Whether the verdict can use it: MIN_SAMPLES samples and their statistics."""
        return self.n >= MIN_SAMPLES and bool(self.stats)

    @property
    def spread(self):
        """(25th, 75th percentile) of the samples (asv's own, else from the samples); None with fewer
        than two samples."""
        if self.n < 2:
            return None
        if self.stats and self.stats.get("q_25") is not None:
            return self.stats["q_25"], self.stats["q_75"]
        if len(self.kept) < 2:
            return None
        q = statistics.quantiles(self.kept, n=4, method="inclusive")  # as asv's (publish reads no measure.timing)
        return q[0], q[2]

    @property
    def interval(self):
        """asv's 99% confidence interval of the value (its lower end at least 0), or None."""
        if self.stats and self.stats.get("ci_99_a") is not None:  # a time is never below 0
            return max(self.stats["ci_99_a"], 0.0), self.stats["ci_99_b"]
        return None

    @property
    def check(self):
        return (self.record or {}).get("check", "unchecked")

    @property
    def check_detail(self):
        return (self.record or {}).get("check_detail", "")

    @property
    def ran(self):
        return (self.record or {}).get("ran", {})

    @property
    def pid(self):
        """The process that measured it (None outside `mlxvspt run`)."""
        return ((self.record or {}).get("environment") or {}).get("pid")

    @property
    def alternates(self):
        """Whether its class takes both frameworks' samples alternately in one process on this device."""
        return bool((self.record or {}).get("alternates"))

    @property
    def interleaved(self):
        """Whether its samples alternated with the other framework's (None: a record from before it was kept)."""
        return (self.record or {}).get("interleaved")

    @property
    def steady(self):
        """False where warm-up hit its cap before two consecutive steps agreed (asvbench.warm_up)."""
        return ((self.record or {}).get("warmup") or {}).get("steady") is not False


@dataclass
class Row:
    """One benchmark at one parameter combination: PyTorch beside MLX."""
    benchmark: str  # "bench_lm_train.LMTrain.time_step"
    params: dict  # every parameter but the framework, bare values, in asv's order
    unit: str
    torch: Cell
    mlx: Cell

    @property
    def workload(self):
        return workload_of(self.benchmark)

    @property
    def method(self):
        return self.benchmark.split(".", 1)[1]

    @property
    def label(self):
        rest = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return self.method + (f" ({rest})" if rest else "")

    @property
    def cells(self):
        return {"torch": self.torch, "mlx": self.mlx}

    @property
    def host_bound(self):
        """Whether a GPU row's figure hangs on the host's CPU as much as on the GPU (its workload's HOST_BOUND
        classes, or where the workload decides by parameters, its `host_bound(cls, params)`; a memory or accuracy
        figure never does): two hosts of one machine kind need not reproduce it. Quiet one-H100 machines naming
        the same 16-core Xeon ran such rows up to 1.8x apart (docs/methodology.md)."""
        spec = workloads.spec(self.workload) if self.workload and self.params.get("device") == "gpu" else None
        rule = getattr(spec, "host_bound", lambda cls, params: cls in getattr(spec, "HOST_BOUND", ()))
        return self.unit not in UNTIMED_UNITS and rule(self.method.split(".")[0], self.params)

    @property
    def precision(self):
        """fp32 / tf32 / fp16 / bf16 (the LLM's `dtype` names mapped); fp32 where the benchmark has no
        precision parameter (the benchmarks' default)."""
        value = self.params.get("precision") or self.params.get("dtype") or "fp32"
        return DTYPES.get(value, value)

    @property
    def path(self):
        """How each framework ran it: the `path` parameter, and eager / compiled from `compile`."""
        parts = [self.params["path"]] if "path" in self.params else []
        if "compile" in self.params:
            parts.append("compiled" if self.params["compile"] in ("True", "on") else "eager")
        return " + ".join(parts) or "default"

    @property
    def ratio(self):
        """MLX / PyTorch (lower is better for both, so < 1: MLX ahead); None unless both measured."""
        if self.torch.ok and self.mlx.ok and self.torch.value > 0:
            return self.mlx.value / self.torch.value
        return None

    @property
    def ratio_interval(self):
        """The ratio's LEVEL confidence interval, the one the verdict reads (`ratio_interval`)."""
        return ratio_interval(self.torch, self.mlx)

    @property
    def verdict(self):
        return verdict(self.torch, self.mlx, self.unit)


@lru_cache(maxsize=None)
def _cut(n, m):
    """How far in from each end of the n*m sorted pairwise ratios the LEVEL interval's ends lie: the most
    j with P(U < j) <= (1 - LEVEL) / 2, U being Mann-Whitney's statistic for n against m samples of one
    distribution (0: no interval reaches LEVEL). U's counts are the coefficients of the Gaussian binomial
    [n + m choose n] in q, built factor by factor; only the lower half is needed."""
    size = n * m // 2 + 1
    counts = [1] + [0] * (size - 1)
    for i in range(1, n + 1):  # times (1 - q^(m+i)) / (1 - q^i): a polynomial after each step
        for u in range(size - 1, m + i - 1, -1):
            counts[u] -= counts[u - m - i]
        for u in range(i, size):
            counts[u] += counts[u - i]
    tail, j, total = 0, 0, math.comb(n + m, n)
    while j < size and (tail + counts[j]) * 2 <= (1 - LEVEL) * total:
        tail, j = tail + counts[j], j + 1
    return j


def ratio_interval(torch, mlx):
    """MLX / PyTorch's LEVEL confidence interval; None where it is unbounded or either cell is unmeasured.

    Where both cells kept positive samples: the distribution-free interval for a ratio of Hodges and
    Lehmann (Moses): the j-th smallest and j-th largest of the n*m ratios MLX sample / PyTorch sample,
    j from Mann-Whitney's exact distribution (`_cut`). It assumes only that the frameworks' samples
    differ by a factor, not that they are normal: a t interval is pulled wide or off centre by the odd
    slow sample that timings have, ranks are not. It is deterministic, and it excludes 1 exactly where
    (ties aside) the rank test asv compare applies, Mann-Whitney's, finds the samples different at
    p <= 1 - LEVEL; asv asks p < 0.002, out of reach at 6 against 6 samples. Where either cell kept
    none: the widest ratio the cells' 99% intervals allow, asv compare's own fallback."""
    if not (torch.ok and mlx.ok):
        return None
    if torch.kept and mlx.kept and min(torch.kept + mlx.kept) > 0:
        j = _cut(len(mlx.kept), len(torch.kept))
        ratios = sorted(a / b for a in mlx.kept for b in torch.kept)
        return (ratios[j - 1], ratios[-j]) if j else None
    a, b = mlx.interval, torch.interval
    if not a or not b or b[0] <= 0:
        return None
    return a[0] / b[1], a[1] / b[0]


def verdict(torch, mlx, unit):
    """"MLX 1.3x faster" only where both cells were cross-checked and, for a timing (not a peak memory or an
    error), taken alternately (in one process: two processes' cells cannot have alternated; where the class
    alternates on the device, a record without a process counts as another one; neither record saying it was
    measured alone) and after a steady warm-up; and the ratio's LEVEL interval lies wholly on
    one side of 1 and the medians differ by MIN_EFFECT at least; otherwise why not (an accuracy figure or a
    pooled energy figure: none, it is read as its value). The factor is the medians' ratio, as the pages show it."""
    if not (torch.ok and mlx.ok) or min(torch.value, mlx.value) <= 0:
        return ""
    checks = {torch.check, mlx.check}
    if "failed" in checks:
        return "check failed"
    if checks != {"passed"}:
        return "unchecked"
    if unit == ACCURACY_UNIT:
        return ACCURACY
    if unit in POOLED_UNITS:
        return POOLED
    if not (torch.sampled and mlx.sampled):
        return f"too few samples ({min(torch.n, mlx.n)})"
    if unit not in UNTIMED_UNITS:
        # cells of two measuring processes did not alternate, whatever their records say (an older harness
        # measured each framework's combination in a process of its own and did not record `interleaved`)
        apart = torch.pid != mlx.pid and (torch.alternates or mlx.alternates or None not in (torch.pid, mlx.pid))
        if False in (torch.interleaved, mlx.interleaved) or apart:
            return "not interleaved"  # the frameworks' timings were taken in different minutes
        if not (torch.steady and mlx.steady):
            return "unsteady warm-up"
    low, high = ratio_interval(torch, mlx) or (0.0, math.inf)
    better, factor = ("MLX", torch.value / mlx.value) if high < 1 else ("PyTorch", mlx.value / torch.value)
    if not (high < 1 or low > 1) or factor < MIN_EFFECT:
        return NOISE
    return f"{better} {factor:.3g}x {'faster' if unit == 'seconds' else 'lower'}"


@dataclass
class Snapshot:
    """One machine's results at one ledger point."""
    machine: str
    commit: str
    point: str  # ledger entry name, None if the commit is not in the ledger
    date: int  # of the ledger point (asv's commit date), JavaScript milliseconds
    run_at: int  # when its last benchmark started, JavaScript milliseconds
    env_names: list
    environment: dict  # the `mlxvspt info` record of the run (environment-<point>.txt)
    rows: list
    stale: dict  # {benchmark: version of the skipped result}: another version than benchmarks.json's

    def row(self, benchmark, **params):
        """The row of `benchmark` whose parameters include `params` (bare values), or None."""
        return next((r for r in self.rows if r.benchmark == benchmark
                     and all(r.params.get(k) == v for k, v in params.items())), None)


def benchmarks(results_dir):
    """{benchmark name: asv's metadata (params, param_names, unit, version)} from benchmarks.json."""
    path = Path(results_dir) / "benchmarks.json"
    if not path.is_file():
        return {}
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "version"}


def machines(results_dir):
    return sorted({res.params.get("machine") for res in asv_results.iter_results(str(results_dir))})


@lru_cache(maxsize=None)
def _points():
    return tuple(ledger.build())


def point_name(commit):
    return next((name for name, c in _points() if c == commit), None)


def workload_of(benchmark):
    """bench_lm_train.LMTrain.time_step -> "lm_train" (None if no workload has that name)."""
    name = benchmark.split(".", 1)[0].removeprefix("bench_")
    return name if name in workloads.NAMES else None


def workload_title(name):
    """"TransformerLM training": the first words of the workload spec's docstring."""
    doc = (workloads.spec(name).__doc__ or name).strip().splitlines()[0]
    return re.split(r" \(|[:.]\s|\.$", doc)[0]


def preset_of(machine, environment):
    """The preset a run used: its environment record's, else the machine name's suffix."""
    preset = environment.get("preset") or machine.rsplit("-", 1)[-1]
    return preset if preset in presets.NAMES else None


# What a run's environment record says of the interpreter that ran asv rather than of the machine
RELEASES = ("numpy", "mlx", "mlx_gpu_backend", "mlx_blas", "torch", "torch_gpu_backend", "torch_blas",
            "torch_threads", "mlx-lm", "mlx-whisper", "transformers", "openai-whisper", "torchao")


def environment(results_dir, machine, point=None):
    """The `mlxvspt info` record of `point`'s run (environment-<point>.txt), else the machine's latest
    record (environment.txt) without its releases: a history run measures each point in its own
    virtualenv, and the latest record names the interpreter that ran asv, not the point's releases."""
    folder = Path(results_dir) / machine
    own, latest = folder / f"environment-{point}.txt", folder / "environment.txt"
    if point and own.is_file():
        return json.loads(own.read_text())
    if not latest.is_file():
        return {}
    record = json.loads(latest.read_text())
    return {k: v for k, v in record.items() if k not in RELEASES} if point else record


HOST_KEYS = ("cpu", "cpu_count", "cpu_features")  # what devices.host_kind records of a host


def host_of(environment):
    """A run's host kind ({cpu, cpu_count, cpu_features}, devices.host_kind) from its environment record; a key the
    record lacks (a run from before it was recorded) is None."""
    return {key: environment.get(key) for key in HOST_KEYS} if isinstance(environment, dict) else {}


def hosts_differ(a, b):
    """Whether two host kinds (`host_of`) are not one machine's: a key both name differs."""
    return any(a.get(key) is not None and b.get(key) is not None and a[key] != b[key] for key in HOST_KEYS)


def host_words(kind):
    """"Intel(R) Xeon(R) Processor, 2 cores, avx avx2 ... amx_tile": a host kind as a line names it."""
    cores = kind.get("cpu_count")
    return ", ".join(str(part) for part in (kind.get("cpu"), cores and f"{cores} cores", kind.get("cpu_features"))
                     if part)


def records(results_dir, machine, point):
    """{(benchmark, frozenset of (param, bare value))} -> the latest records-file line for it. A line
    naming its check combination (`check_key`) takes its status from every line of the point's check file
    for it: a check at the published size that ended after the run (or beside it) and failed fails the
    row, though the run's own smaller pre-check passed."""
    folder = Path(results_dir) / machine
    path = folder / f"records-{point}.jsonl"
    out = {}
    if not point or not path.is_file():
        return out
    for rec in jsonlines.read(path):
        try:
            key = rec["benchmark"], frozenset((k, unquote(v)) for k, v in rec["params"].items())
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line a killed run left half-written: the cells it named stay unchecked
        out[key] = rec
    lines = check.load(folder / f"check-{point}.jsonl")
    for rec in out.values():
        combination = rec.get("check_key")
        status = check.status(lines, *combination) if combination else "unchecked"
        if status != "unchecked":
            rec["check"] = status
            rec["check_detail"] = check.failures(lines, *combination)
    return out


def stale_entry(res, name, meta):
    """Whether result set `res` holds benchmark `name` at another version than benchmarks.json's (`meta`), or one
    the suite no longer has."""
    version = meta.get(name, {}).get("version")
    return name not in meta or res.benchmark_version.get(name, version) != version


def current(result_sets, meta):
    """{(benchmark, combination as asv's param strings): (value, stats, samples)} over one machine's result files
    at one commit, one per asv environment (runs from clones at other paths each write their own): of several,
    the combination's entry from the benchmark run last (asv stamps a benchmark's start, not a cell's), a value
    beating another file's n/a. Entries of another benchmark version than benchmarks.json's (`meta`) are left
    out: the site hides them too."""
    chosen, rank = {}, {}
    for res in result_sets:
        for name in res.get_all_result_keys():
            if stale_entry(res, name, meta):
                continue
            params = res.get_result_params(name)
            values = res.get_result_value(name, params)
            stats = res.get_result_stats(name, params) or [None] * len(values)
            samples = res.get_result_samples(name, params) or [None] * len(values)
            for combo, value, st, sa in zip(itertools.product(*params), values, stats, samples):
                when = value is not None and not math.isnan(value), res.started_at.get(name, 0)
                if when >= rank.get((name, combo), when):
                    chosen[name, combo], rank[name, combo] = (value, st, sa), when
    return chosen


def _figures(rows, sizes_of):
    """Fill each measured cell's derived figures from its workload's spec, then MFU from the peaks."""
    peaks, rates = {}, []
    for row in rows:
        spec = workloads.spec(row.workload) if row.workload else None
        derive, peak = getattr(spec, "figures", None), getattr(spec, "PEAK", None)
        sizes = sizes_of(row.workload) if derive else None
        if sizes is None:
            continue
        key = row.params.get("device"), row.params.get("precision", "fp32")
        for cell in row.cells.values():
            if not (cell.ok and cell.value > 0):
                continue
            cell.figures = derive(row.method, row.params, cell.value, sizes)
            if peak in cell.figures:
                peaks[key] = max(peaks.get(key, 0.0), cell.figures[peak][0])
            else:
                rates += [(key, cell, value) for value, unit in cell.figures.values() if unit == "TFLOP/s"]
    for key, cell, rate in rates:
        if peaks.get(key):
            cell.figures["MFU"] = rate / peaks[key], "fraction"
            cell.figures["peak"] = peaks[key], "TFLOP/s"


def snapshot(results_dir, machine, commit, meta=None):
    """Every current result of one machine at one commit (all its environments), as Rows."""
    meta = benchmarks(results_dir) if meta is None else meta
    point = point_name(commit)
    found = records(results_dir, machine, point)
    sets = list(asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit))
    date = max([0, *(res.date or 0 for res in sets)])
    run_at = max([0, *(when for res in sets for when in res.started_at.values())])
    stale = {name: res.benchmark_version.get(name) for res in sets for name in res.get_all_result_keys()
             if stale_entry(res, name, meta)}
    cells = {}
    for (name, combo), (value, st, sa) in current(sets, meta).items():
        if "framework" not in meta[name]["param_names"]:
            continue
        bare = dict(zip(meta[name]["param_names"], map(unquote, combo)))
        record = found.get((name, frozenset(bare.items())))
        framework = bare.pop("framework")
        cells.setdefault((name, tuple(bare.items())), {})[framework] = Cell(value, sa, st, record)
    rows = [Row(name, dict(params), meta[name].get("unit", ""), by_fw.get("torch", Cell()), by_fw.get("mlx", Cell()))
            for (name, params), by_fw in sorted(cells.items(), key=lambda item: item[0][0])]  # asv's param order
    env = environment(results_dir, machine, point)
    preset = preset_of(machine, env)
    _figures(rows, lambda workload: presets.sizes(workload, preset) if preset else None)
    return Snapshot(machine, commit, point, date, run_at, [res.env_name for res in sets], env, rows, stale)


def latest(results_dir, machines_=None):
    """{machine: Snapshot of its newest commit} for every machine (or those named)."""
    newest = {}
    for res in asv_results.iter_results(str(results_dir)):
        machine = res.params.get("machine")
        if (not machines_ or machine in machines_) and (res.date or 0) >= newest.get(machine, (0, None))[0]:
            newest[machine] = res.date or 0, res.commit_hash
    meta = benchmarks(results_dir)
    return {m: snapshot(results_dir, m, commit, meta) for m, (_, commit) in sorted(newest.items())}


def history(results_dir, machine):
    """Snapshots of one machine at every ledger point it has results for, oldest first."""
    meta = benchmarks(results_dir)
    have = {res.commit_hash for res in asv_results.iter_results_for_machine(str(results_dir), machine)}
    return [snapshot(results_dir, machine, commit, meta) for _, commit in _points() if commit in have]
