"""PNG charts from asv results: MLX vs PyTorch bars for the latest release set, and each benchmark's
time over the release ledger."""
import math
import re
from pathlib import Path

from . import results


def bars(results_dir, out_dir, machines=None):
    """One PNG per machine (all, or those named): time rows of the latest result, PyTorch and MLX side
    by side (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for machine, snap in results.latest(results_dir, machines).items():
        # "Matmul.time_matmul (gpu, fp16, 1024)": parameter values without their names fit the margin
        data = [(re.sub(r"\w+=", "", row.label), row.torch.value, row.mlx.value) for row in snap.rows
                if row.unit == "seconds" and row.ratio is not None]
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

    snaps = results.history(results_dir, machine)
    if len(snaps) < 2:
        return None
    # {(benchmark, framework, parameter values): seconds} per ledger point
    per_point = [{(row.benchmark, fw, tuple(row.params.values())): cell.value for row in snap.rows
                  if row.unit == "seconds" for fw, cell in row.cells.items() if cell.ok} for snap in snaps]
    keys = sorted({k for vals in per_point for k, _, _ in vals})
    fig, axes = plt.subplots(len(keys), 1, figsize=(10, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        combos = sorted({(fw, params) for vals in per_point for k, fw, params in vals if k == key})
        for fw, params in combos:
            ys = [vals.get((key, fw, params), math.nan) for vals in per_point]
            ax.plot(range(len(snaps)), ys, marker="o", label=", ".join((fw, *params)))
        ax.set_title(key, fontsize=9)
        ax.set_yscale("log")
        ax.set_ylabel("seconds")
        ax.set_xticks(range(len(snaps)), [snap.point for snap in snaps], fontsize=7)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = Path(out_dir) / f"history-{machine}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
