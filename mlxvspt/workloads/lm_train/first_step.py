"""The first compiled training step of a fresh process, with cold and with warm compiler caches.

What a user waits for before the first step depends on the compilers' on-disk caches: inductor's and
Triton's (TORCHINDUCTOR_CACHE_DIR, TRITON_CACHE_DIR) for PyTorch, the C++ kernels mx.compile builds
under $TMPDIR/mlx for MLX on a CPU. One measurement = two child processes sharing a new, empty cache
folder: the first fills it (cold), the second finds it filled (warm). The variables are set in the
children's environment, so they hold before either framework compiles anything.

Child: `python -m mlxvspt.workloads.lm_train.first_step_child REQUEST_JSON` prints {"seconds", "ran"}.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = __name__.rsplit(".", 1)[0] + ".first_step_child"  # the fresh process: builds through spec
CACHE_FOLDERS = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton", "TMPDIR": "tmp"}


def child(request, folder):
    """Run one fresh process on `folder`'s caches; its {"seconds", "ran"}."""
    env = dict(os.environ)
    for variable, name in CACHE_FOLDERS.items():
        (Path(folder) / name).mkdir(exist_ok=True)
        env[variable] = str(Path(folder) / name)
    out = subprocess.run([sys.executable, "-m", CHILD, json.dumps(request)], env=env, capture_output=True,
                         text=True)
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"lm_train first step in a child process failed (exit {out.returncode}): {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class FirstSteps:
    """Runner whose unit is one cold + warm pair. A cold step cannot be warmed up, so the warm-up
    method (`ready`) takes the measurement and `step` hands it over; a later step measures anew."""

    def __init__(self, target, sizes):
        self.request = {"framework": target.framework, "device": target.device, "precision": target.precision,
                        "sizes": {k: v for k, v in sizes.items() if k != "measure_first_step"}}
        self.pending = None
        self.children_ran = None

    def measure(self):
        folder = tempfile.mkdtemp(prefix="mlxvspt-first-step-")
        try:
            cold, warm = child(self.request, folder), child(self.request, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.children_ran = cold["ran"]
        self.pending = {"cold_seconds": cold["seconds"], "warm_seconds": warm["seconds"]}

    def ready(self):
        if self.pending is None:
            self.measure()

    def step(self):
        self.ready()
        taken, self.pending = self.pending, None
        return taken

    def ran(self):
        """What the cold child ran, read back there after its first step."""
        return self.children_ran
