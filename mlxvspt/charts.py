"""PNG charts from asv results: MLX vs PyTorch bars for the latest release set, and each benchmark's
time over the release ledger."""
import math
import re
from pathlib import Path

from asv import results as asv_results

from . import ledger
from .compare import values
from .report import latest_results, load_benchmarks, rows


def finite(cell):
    return cell.value is not None and not math.isnan(cell.value)


def bars(results_dir, out_dir, machines=None):
    """One PNG per machine (all, or those named): time rows of the latest result, PyTorch and MLX side
    by side (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    benchmarks = load_benchmarks(results_dir)
    for machine, res in sorted(latest_results(results_dir).items()):
        if machines and machine not in machines:
            continue
        # "Matmul.time_matmul (gpu, fp16, 1024)": parameter values without their names fit the margin
        data = [(re.sub(r"\w+=", "", label), t.value, m.value) for label, unit, t, m in rows(res, benchmarks, [])
                if unit == "seconds" and finite(t) and finite(m)]
        if not data:
            continue
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(data) + 1.5))
        ys = range(len(data))
        ax.barh([y + 0.2 for y in ys], [d[1] for d in data], height=0.4, label="PyTorch", color="#ee4c2c")
        ax.barh([y - 0.2 for y in ys], [d[2] for d in data], height=0.4, label="MLX", color="#333333")
        ax.set_yticks(list(ys), [d[0] for d in data], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log scale, lower is better)")
        ax.set_title(f"MLX vs PyTorch on {machine}")
        ax.legend()
        fig.tight_layout()
        path = Path(out_dir) / f"bars-{machine}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def history(results_dir, out_dir, machine):
    """Every time benchmark of one machine over the ledger entries that have results: one line per
    parameter combination, one panel per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(name, commit) for name, commit in ledger.build()
              if any(True for _ in asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit))]
    if len(points) < 2:
        return None
    per_point = [values(results_dir, machine, commit) for _, commit in points]
    units = {k: v.get("unit") for k, v in load_benchmarks(results_dir).items()}
    keys = sorted({k for vals in per_point for k, _ in vals if units.get(k) == "seconds"})
    fig, axes = plt.subplots(len(keys), 1, figsize=(10, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        combos = sorted({c for vals in per_point for k, c in vals if k == key})
        for combo in combos:
            ys = [vals.get((key, combo), (math.nan,))[0] for vals in per_point]
            ax.plot(range(len(points)), ys, marker="o", label=", ".join(c.strip("'") for c in combo))
        ax.set_title(key, fontsize=9)
        ax.set_yscale("log")
        ax.set_ylabel("seconds")
        ax.set_xticks(range(len(points)), [name for name, _ in points], fontsize=7)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = Path(out_dir) / f"history-{machine}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
