"""Cross-framework agreement: a fast wrong answer is not a result.

A workload's `check(preset, device)` runs both frameworks on the same work for every path and precision
it publishes on that device and records one `Line` per quantity compared. Limits come from one table,
TOLERANCES, per kind of quantity and precision, each with its reason; `mlxvspt run` stores the lines
beside the results and a row gets a verdict only where every line of its combination passed.
"""
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import jsonlines
from ..errors import Unavailable

# kind -> precision -> (limit, why). "loss": |mlx - torch| / |torch| of a scalar loss; "tensor": relative
# L2 of each tensor (gradients, weights), every tensor held to the limit; "output": relative L2 of an
# output array (logits, features, products). Unit roundoff: fp32 6e-8, tf32 and fp16 5e-4, bf16 4e-3.
TOLERANCES = {
    "loss": {
        "fp32": (1e-5, "IEEE float32 in both; only the order of reductions differs"),
        "tf32": (2e-3, "matmul inputs rounded to 10 mantissa bits (TF32), each framework's own kernels"),
        "fp16": (5e-3, "float16 activations (10 mantissa bits); reductions ordered differently"),
        "bf16": (2e-2, "bfloat16 keeps 8 mantissa bits: a loss over thousands of terms drifts by ~1e-2"),
        "bf16-mixed": (2e-2, "bfloat16 compute from float32 weights: the bf16 rounding of activations"),
    },
    "tensor": {
        "fp32": (1e-3, "IEEE float32; tiny tensors (biases) amplify reordered sums, hence not 1e-5"),
        "tf32": (5e-2, "TF32 rounds every matmul input to 10 bits; gradients pass through ~3 matmuls each"),
        "fp16": (5e-2, "float16 (10 bits) through forward and backward"),
        "bf16": (1.5e-1, "bfloat16 (8 bits) through forward and backward: ~5% per tensor is rounding"),
        "bf16-mixed": (1.5e-1, "bfloat16 compute (8 bits); weights and update in float32"),
    },
    "output": {
        "fp32": (1e-4, "IEEE float32; reductions ordered differently"),
        "tf32": (1e-2, "TF32 matmuls (10 bits) in each framework's kernels"),
        "fp16": (2e-2, "float16 (10 bits) through the whole network"),
        "bf16": (6e-2, "bfloat16 (8 bits) through the whole network"),
        "bf16-mixed": (6e-2, "bfloat16 compute (8 bits)"),
    },
}
# scheme -> (limit, why): how far a quantized model's perplexity may move, either way, from its own framework's
# unquantized model's (quantized / unquantized - 1, same precision, tokens and windows) for its row to get a verdict
# (llm_quant). PROVISIONAL until measured on a GPU (TinyLlama, PTB test): set from published
# round-to-nearest results on Llama models, not from this suite's runs.
PERPLEXITY_MARGIN = {
    "int8": (0.02, "8-bit round-to-nearest weights moved Llama models' perplexity by under 1% (provisional)"),
    "int4": (0.15, "4-bit round-to-nearest weights in groups of 64-128 raised Llama models' perplexity 3-10%, "
                   "small models the most (provisional)"),
}
# A tensor whose norm is below this fraction of the largest tensor's norm is compared on that floor:
# some true gradients are zero (key biases: softmax ignores a per-query constant), leaving rounding only.
NORM_FLOOR = 1e-3
# Below float32, MLX's tensor may differ from PyTorch's by this many times the rounding PyTorch's own
# precision does to that tensor (its distance from PyTorch's float32 value): see CheckResult.tensors.
# Measured at bf16-mixed (BERT, small): 0.52 between the frameworks where PyTorch's own is 0.31 (autocast
# keeps softmax and layer norms in float32, BERT's MLX bfloat16 copy of the model does not).
ROUNDING_MARGIN = 2.0
# ...but never beyond this: a tensor half its norm away from PyTorch's is not rounding (an MLX gradient 20x
# too small is 0.95 away). The furthest legitimate gap seen is 0.31 (BERT bf16-mixed, CPU, small).
ROUNDING_CEILING = 0.5


def norm_floor(tensors):
    """The norm below which `tensors` compares a tensor on a floor (NORM_FLOOR x the largest norm)."""
    return NORM_FLOOR * max(np.linalg.norm(np.asarray(t, np.float64)) for t in tensors.values())


def worst(gaps, limits=None):
    """The key whose gap is largest against its limit (1 if none); a NaN gap is the worst of all."""
    ratio = lambda k: gaps[k] / (limits[k] if limits else 1.0)
    return max(gaps, key=lambda k: ratio(k) if np.isfinite(ratio(k)) else np.inf)


def relative_l2(a, b, floor=0.0):
    """|a - b| / max(|b|, floor) in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), floor, 1e-30))


@dataclass
class Line:
    """One quantity compared for one combination: what `mlxvspt check` prints and `run` stores."""

    workload: str
    device: str
    path: str
    precision: str
    what: str
    ok: bool
    value: float | None = None
    limit: float | None = None
    detail: str = ""
    case: str = ""  # the combination's other parameters (`case_of`); "" in lines that cover all of them

    def text(self):
        measured = "" if self.value is None else f"{self.value:.3g}" + \
            ("" if self.limit is None else f" (limit {self.limit:g})")
        parts = [p for p in (measured, self.detail) if p]
        mark = "n/a " if self.what == "n/a" else "ok  " if self.ok else "FAIL"
        where = " ".join(p for p in (self.device, self.path, self.precision, self.case) if p)
        return f"{mark} {self.workload} [{where}] {self.what}: {'; '.join(parts)}"


@dataclass
class CheckResult:
    """The lines of one workload's check; `at(path, precision, case)` selects the combination being recorded."""

    workload: str
    device: str = "cpu"
    path: str = "-"
    precision: str = "fp32"
    entries: list = field(default_factory=list)
    case: str = ""

    def at(self, path, precision, case=""):
        self.path, self.precision, self.case = path, precision, case
        return self

    @contextmanager
    def combination(self, path, precision, reason_prefix="", case=""):
        """Select a combination; what its device cannot do mid-way (Unavailable: out of memory, a missing
        op) makes it n/a with the reason, and the check goes on with the next one."""
        self.at(path, precision, case)
        try:
            yield self
        except Unavailable as exc:
            self.unavailable(f"{reason_prefix}{exc}")

    @property
    def passed(self):
        return all(line.ok for line in self.entries)

    @property
    def lines(self):
        return [line.text() for line in self.entries]

    def record(self, what, ok, value=None, limit=None, detail=""):
        number = lambda x: None if x is None else float(x)  # numpy scalars too: the lines are stored as JSON
        self.entries.append(Line(self.workload, self.device, self.path, self.precision, what, bool(ok),
                                 number(value), number(limit), detail, self.case))
        return bool(ok)

    def within(self, what, value, kind, detail=""):
        """value <= TOLERANCES[kind][precision]; the reason is printed on failure."""
        limit, why = TOLERANCES[kind][self.precision]
        ok = value <= limit
        return self.record(what, ok, value, limit, detail if ok else f"{detail}; limit because {why}".lstrip("; "))

    def loss(self, what, mlx_value, torch_value):
        return self.within(what, abs(mlx_value - torch_value) / max(abs(torch_value), 1e-30), "loss",
                           f"mlx {mlx_value:.6g} torch {torch_value:.6g}")

    def loss_curve(self, what, mlx_losses, torch_losses, detail=""):
        """The worst step's relative loss gap (a NaN loss is the worst; the curves must be equally long)."""
        if len(mlx_losses) != len(torch_losses):
            return self.record(what, False, detail=f"steps differ: mlx {len(mlx_losses)} vs torch {len(torch_losses)}")
        gaps = {i: abs(m - t) / max(abs(t), 1e-30) for i, (m, t) in enumerate(zip(mlx_losses, torch_losses))}
        i = worst(gaps)
        return self.within(what, gaps[i], "loss", f"worst at step {i + 1}: mlx {mlx_losses[i]:.6g} "
                                                  f"torch {torch_losses[i]:.6g}{detail}")

    def output(self, what, mlx_value, torch_value):
        a, b = np.asarray(mlx_value), np.asarray(torch_value)
        if a.shape != b.shape:
            return self.record(what, False, detail=f"shapes differ: mlx {a.shape} vs torch {b.shape}")
        return self.within(what, relative_l2(a, b), "output", "relative L2")

    def tensors(self, what, mlx_tensors, torch_tensors, kind="tensor", reference=None, reference_is="float32",
                note=""):
        """Relative L2 of every tensor (names must match); the line names the worst one. With `reference`
        (the same tensors as PyTorch computes them another legitimate way: in IEEE float32, or compiled
        the other way), a tensor's limit is also at least ROUNDING_MARGIN x PyTorch's own distance from it:
        at bfloat16 BERT's attention query-weight gradient is 49% (PyTorch) and 57% (MLX) away from its
        float32 value, the frameworks 31% from each other (2-core CPU, small). Only PyTorch's own rounding
        is the yardstick, so a wrong MLX tensor cannot excuse itself. `note` (information, not a limit) ends
        the line's detail."""
        if set(mlx_tensors) != set(torch_tensors):
            odd = sorted(set(mlx_tensors) ^ set(torch_tensors))
            return self.record(what, False, detail=f"tensor names differ ({len(odd)}, first {odd[0]})")
        gaps, limits, own = self.tensor_limits(mlx_tensors, torch_tensors, kind, reference)
        base, why = TOLERANCES[kind][self.precision]
        name = worst(gaps, limits)
        ok = gaps[name] <= limits[name]
        detail = f"relative L2 per tensor, {len(gaps)} tensors; worst {name}"
        over = [k for k in sorted(gaps, key=lambda k: -gaps[k] / limits[k]) if not gaps[k] <= limits[k]]
        if len(over) > 1:
            detail += f"; {len(over)} over their limit ({', '.join(over[1:4])}{', ...' if len(over) > 4 else ''} too)"
        if reference is not None:
            detail += (f" (PyTorch's own distance from {reference_is}: {own[name]:.3g}; limit {base:g} or "
                       f"{ROUNDING_MARGIN}x that, at most {ROUNDING_CEILING:g})")
        detail += note
        return self.record(what, ok, gaps[name], limits[name], detail if ok else f"{detail}; limit because {why}")

    def tensor_limits(self, mlx_tensors, torch_tensors, kind="tensor", reference=None):
        """({name: MLX's gap}, {name: its limit}, {name: PyTorch's own distance from `reference`}), as
        `tensors` judges them (names must match)."""
        floor, gaps = tensor_gaps(mlx_tensors, torch_tensors)
        base = TOLERANCES[kind][self.precision][0]
        own = {k: 0.0 for k in gaps}
        if reference is not None:
            own = {k: relative_l2(t, reference[k], floor) for k, t in torch_tensors.items()}
        return gaps, {k: min(ROUNDING_CEILING, max(base, ROUNDING_MARGIN * own[k])) for k in gaps}, own

    def tensors_pass(self, mlx_tensors, torch_tensors, kind="tensor", reference=None):
        """Whether `tensors` would pass these tensors: a caller may skip computing what only explains a
        failure (a reference or a diagnostic run costs a training run). Without `reference`, the flat limit."""
        if set(mlx_tensors) != set(torch_tensors):
            return False
        gaps, limits, _ = self.tensor_limits(mlx_tensors, torch_tensors, kind, reference)
        return all(gaps[k] <= limits[k] for k in gaps)

    def equal(self, what, mlx_value, torch_value):
        a, b = np.asarray(mlx_value), np.asarray(torch_value)
        same = a.shape == b.shape and bool(np.all(a == b))
        return self.record(what, same, detail="identical" if same else f"differ: mlx {a.tolist()} vs torch {b.tolist()}")

    def require(self, what, ok, detail):
        return self.record(what, ok, detail=detail)

    def close(self, what, mlx_value, torch_value, atol, rtol=0.0):
        """Element-wise |mlx - torch| <= atol + rtol*|torch| (fixed limits for exact-math quantities)."""
        a, b = np.asarray(mlx_value, np.float64), np.asarray(torch_value, np.float64)
        if a.shape != b.shape:
            return self.record(what, False, detail=f"shapes differ: mlx {a.shape} vs torch {b.shape}")
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        ok = bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))
        return self.record(what, ok, diff, atol, f"max abs diff (atol {atol:g}, rtol {rtol:g})")

    def unavailable(self, reason):
        """A combination this device cannot run: not a failure, and no verdict either."""
        self.entries.append(Line(self.workload, self.device, self.path, self.precision, "n/a", True, detail=reason,
                                 case=self.case))


def tensor_gaps(mlx_tensors, torch_tensors):
    """(the norm floor, {name: relative L2 of MLX's tensor from PyTorch's}) as `tensors` judges them."""
    floor = norm_floor(torch_tensors)
    return floor, {k: relative_l2(mlx_tensors[k], t, floor) for k, t in torch_tensors.items()}


LINE_KEYS = {"workload", "device", "path", "precision", "what", "ok"}


def case_of(overrides, keys):
    """A combination's case, as its lines and records name it: its values of `keys`, the parameters its
    workload checks separately (a spec's CHECK_CASE: matmul's size, the LLM's batch), e.g. "batch 8"; ""
    where it has none. One batch's or size's check never stands for another's, while rows that share
    their combination's check (Whisper's phases, BERT's validation) keep sharing it."""
    return ", ".join(f"{k} {overrides[k]}" for k in keys if k in overrides)


def path_label(path, compiled):
    """How a combination's path is named in check lines and records: 'seed', 'best+compiled'..."""
    return f"{path}+compiled" if compiled else str(path)


def combinations(sizes):
    """(path, compile, precision) of every combination a training workload publishes at these sizes: each
    path eager and compiled, or only the [path, compile] pairs its `compiles` entry lists."""
    for path in sizes["paths"]:
        for compile in (False, True):
            if [path, compile] not in sizes.get("compiles", [[path, False], [path, True]]):
                continue
            for precision in sizes["precisions"]:
                yield path, compile, precision


@contextmanager
def own_builds(device, precision):
    """A combination's `compare` building references of its own at another precision (PyTorch's eager IEEE
    float32 gradients): both frameworks' policy for `precision` is applied again after, since the measuring
    process warms up and times that combination's runners next (a float32 reference turns TF32 off)."""
    from .devices import FRAMEWORKS, Target

    try:
        yield
    finally:
        for framework in FRAMEWORKS:
            Target(framework, device, precision).activate()


def load(path):
    """The check lines stored in a JSON-lines file ([] if there is none; a line a killed run left
    half-written, or anything else that is not a check line, is skipped)."""
    return [line for line in jsonlines.read(path) if isinstance(line, dict) and LINE_KEYS <= line.keys()]


def keep_others(path, workloads, devices):
    """Rewrite the JSON-lines file `path` (created) without the lines of these workloads on these devices:
    a check about to run them replaces just those. Atomic: a kill leaves the old file or the new one."""
    rewrite(path, [line for line in load(path) if not (line["workload"] in workloads and line["device"] in devices)])


def replace_combinations(path, lines):
    """Write check Lines into the JSON-lines file `path` (created), in place of the stored lines of the
    combinations (workload, device, path, precision, case) they compare, and of the lines without a case
    that covered those: a point measured again, or one tier of it, keeps the lines of every combination
    it does not measure now, another batch or size of the same path and precision included. Atomic: a kill
    leaves the old file or the new one."""
    replace_stored(path, [asdict(line) for line in lines])


def replace_stored(path, new):
    """`replace_combinations` of stored Line dicts (another check file's, as `mlxvspt merge` joins parts)."""
    replaced = {combination_key(line) for line in new}
    replaced |= {key[:4] + ("",) for key in replaced}
    rewrite(path, [line for line in load(path) if combination_key(line) not in replaced] + new)


def rewrite(path, lines):
    """Write stored Line dicts as the JSON-lines file `path` (created) through a staging file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    staging.write_text("".join(json.dumps(line) + "\n" for line in lines))
    staging.replace(path)


def combination_key(line):
    return line["workload"], line["device"], line["path"], line["precision"], line.get("case") or ""


def of_combination(lines, workload, device, path, precision, case=None):
    """The stored Line dicts that compared one combination (its n/a lines left out): those of its case, or
    where it has none, those without a case (a workload's own check, an earlier run's lines, which covered
    every case; check files merged from several runs may hold both); every case's where `case` is None (a
    record from before cases)."""
    mine = [l for l in lines if combination_key(l)[:4] == (workload, device, path, precision) and l["what"] != "n/a"]
    if case is None:
        return mine
    return [l for l in mine if combination_key(l)[4] == case] or [l for l in mine if not combination_key(l)[4]]


def failures(lines, *combination):
    """What disagreed for one combination, one phrase per failed line."""
    return "; ".join(f"{l['what']} {l['value']:.3g} > {l['limit']:.3g}" if isinstance(l.get("value"), (int, float))
                     and isinstance(l.get("limit"), (int, float)) else l["what"]
                     for l in of_combination(lines, *combination) if not l["ok"])


def status(lines, *combination):
    """'passed', 'failed' or 'unchecked' for one combination (workload, device, path, precision[, case]),
    from stored Line dicts."""
    mine = of_combination(lines, *combination)
    if not mine:
        return "unchecked"
    return "passed" if all(l["ok"] for l in mine) else "failed"


def dump(lines):
    return "".join(json.dumps(asdict(line)) + "\n" for line in lines)
