"""When: never on its own: imported by lm_step_mlx.py and lm_step_torch.py.

Timing shared by the standalone step scripts (lm_step_mlx.py, lm_step_torch.py): the suite's rule for
steady state (two consecutive steps within 10%, at most 20 warm-up steps), then the median of N steps."""
import json
import statistics
import time


def report(step, steps):
    """Warm `step` up to steady state, time `steps` calls and print {"ms_per_step", "samples"} as JSON."""
    times = []
    while len(times) < 2 or abs(times[-1] - times[-2]) > 0.1 * min(times[-2:]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if len(times) >= 20:
            break
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"ms_per_step": statistics.median(samples), "samples": samples}))
