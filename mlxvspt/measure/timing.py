"""Warm-up to steady state: the timing primitive the asv classes and the standalone overhead tools share."""
import time

STEADY = 0.10  # two consecutive warm-up steps within 10% of each other: steady state
# A time_ sample of a step shorter than presets.SAMPLE_SECONDS is the mean of as many calls as fill it (asv's
# `number`, set per combination in setup): single calls of a 256^3 matmul or PyTorch's 30 ms eager LM step
# on 2 cores spread 10-26% from call to call; means of calls are what the significance test should compare.
# ... and at least this long warming up: steps of a millisecond agreed after two calls yet ran 2x slower
# for the next second (thread pools and allocator still settling on 2 cores). Free for slower steps.
WARMUP_MIN_SECONDS = 1.0
# ... and one that has not found two steps within 10% goes on this long before its step cap ends it: PyTorch's
# eager LM step on 2 cores (30-40 ms, never two alike) ended warm-up unsteady after 1 s, and the first 9 of
# its 20 samples then ran 40-73 ms, the rest 30-36 ms (a 14.6% spread).
WARMUP_UNSTEADY_SECONDS = 3.0
WARMUP_CAP_STEPS = 20
WARMUP_CAP_SECONDS = 120.0


def warm_up(step, cap_steps=WARMUP_CAP_STEPS, cap_seconds=WARMUP_CAP_SECONDS, min_seconds=WARMUP_MIN_SECONDS,
            unsteady_seconds=WARMUP_UNSTEADY_SECONDS):
    """Call `step` until two consecutive calls agree within STEADY after `min_seconds` of calls (at least
    two calls), or a cap is hit: `cap_steps` calls once `unsteady_seconds` have passed, or `cap_seconds`.
    A step of a millisecond gets as many calls as `min_seconds` takes, above `cap_steps`.

    Returns what happened, for the record: steps taken, whether steady state was reached, the first
    (compiling) and last step's seconds."""
    times, began = [], time.perf_counter()
    while True:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        spent = time.perf_counter() - began
        if (len(times) >= 2 and spent >= min_seconds
                and abs(times[-1] - times[-2]) <= STEADY * min(times[-2:])):
            steady = True
            break
        if (len(times) >= cap_steps and spent >= max(min_seconds, unsteady_seconds)) or spent >= cap_seconds:
            steady = False
            break
    return {"warmup_steps": len(times), "steady": steady, "first_step_seconds": times[0],
            "last_warmup_step_seconds": times[-1]}
