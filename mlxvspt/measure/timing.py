"""Warm-up to steady state: the timing primitive the asv classes and the standalone overhead tools share."""
import statistics
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
    (compiling) and last step's seconds, and the seconds it took."""
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
            "last_warmup_step_seconds": times[-1], "warmup_seconds": round(spent, 3)}


# The spread a published cell may show (half its samples' interquartile range over their median, the report's
# +-): in one run on a quiet H100 host, 26 of 99 cells spread more than 5%; TinyLlama's fp16 decode at batch 1
# spread 22% in both frameworks at once: its first 5 samples of each ran 1.6x slower than the last 5.
SPREAD_LIMIT = {"gpu": 0.05, "cpu": 0.08}


def spread_limit(device):
    """SPREAD_LIMIT of the device; a CPU's where there is none (a plain asv class has no device)."""
    return SPREAD_LIMIT.get(device, SPREAD_LIMIT["cpu"])


def spread(values):
    """Half the interquartile range over the median (0 for fewer than two values or a zero median), the
    quartiles interpolated between samples as asv's stats (q_25, q_75) and so the pages' ± take them: the
    settle judges the spread that is published. (Python's default quartiles lie further out: of 5 samples
    [9.65, 9.79, 9.89, 10.45, 29.2] they gave a 51% spread where the page shows 3.3%.)"""
    if len(values) < 2:
        return 0.0
    q25, _, q75 = statistics.quantiles(values, n=4, method="inclusive")
    median = statistics.median(values)
    return (q75 - q25) / 2 / abs(median) if median else 0.0


def watched(samples):
    """The series a window's steadiness is judged on: the samples themselves (numbers), or each numeric
    figure of them (dicts of figures) but memory and energy, which are not times."""
    if not samples or not isinstance(samples[0], dict):
        return [samples]
    return [[s[name] for s in samples] for name, value in samples[0].items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and not name.startswith(("peak_", "energy_"))]


def in_turn(items, rounds_taken):
    """The order of a round's samples: A B after an even number of rounds, B A after an odd one (A B B A ...),
    so neither framework always runs right after the other."""
    return items if rounds_taken % 2 == 0 else items[::-1]


def settle(taken, take_round, limit):
    """Warm-up's second half, decided on the samples: while the last n samples (n: as many as each list in
    `taken` holds now, one list a framework) of any framework spread more than `limit`, take another round
    (`take_round()` appends one sample to each list, the frameworks alternating as before), at most n
    rounds; then keep each list's last n. A transient on a shared host (a slower first stretch) leaves the
    window as rounds come. After n // 4 rounds (at least two: a transient still under way gets them to
    pass), rounds go on only while each series over the limit has its newest half within it, so that the
    excess lies in the older samples the rounds push out; where the newest half spreads too, the noise is
    the host's own and more rounds only cost time (80 of an H200's 120 TinyLlama records took 5 and still
    spread more). So the cap can be the window's length: at n // 2, a 2-core CPU's 5-sample windows kept
    2 slow first samples of 5 (LM step [1.04, 0.88, 0.67, 0.70, 0.69] s, 13% spread). The frameworks'
    windows are the same rounds, so the ratio still compares the same minutes. Returns (rounds taken,
    whether the window kept is within the limit)."""
    n, rounds = len(taken[0]), 0
    newest, blind = n - n // 2, max(2, n // 4)

    def windows():
        return [series for samples in taken for series in watched(samples[-n:])]

    def settles():
        over = [s for s in windows() if spread(s) > limit]
        return over and (rounds < blind or all(spread(s[-newest:]) <= limit for s in over))

    while rounds < n and settles():
        take_round()
        rounds += 1
    for samples in taken:
        del samples[:len(samples) - n]
    return rounds, all(spread(s) <= limit for s in windows())


# A figure class's rounds (10 at `full`, 11 at `history`) may end at this one where every timed figure of one
# framework's samples lies wholly above or below the other's (exact two-sided p = 2 / C(14, 7) = 0.0006 at 7
# against 7): on an H100 most TinyLlama and Whisper pairs differ 1.5-5x, and 7 such samples a side give the
# verdict. A look this strict (Haybittle and Peto's p < 0.001) adds at most 0.06% to the 1% chance that a
# timed figure's 99% interval calls noise a difference; the settle's choice of the rounds kept adds more (on
# noise of 8% a sample, 1.09% of 100,000 pairs against 0.92% without it); a memory figure, which the look does
# not read, keeps its own 1%. A 3% difference between steady cells that is not wholly apart by 7 rounds gets
# all 10. Not a time_ row's rounds (up to 20 samples of a short step within 5 s): ended at 7, three of a
# 2-core CPU's 512^3 matmul cells spread 9-18%.
FIRST_LOOK = 7


def apart(a, b):
    """Whether series `a` lies wholly above or wholly below series `b`."""
    return max(a) < min(b) or max(b) < min(a)


def decided(taken):
    """Whether, of two frameworks' samples, every timed series (`watched`) of one lies wholly apart from the
    same series of the other; a figure of one value in every sample of both is the work (Whisper's audio
    seconds), not a measurement, and is passed over."""
    if len(taken) != 2:
        return False
    # one value to within rounding: a mean of equal values over another count of calls may differ in its last bit
    pairs = [(a, b) for a, b in zip(watched(taken[0]), watched(taken[1]))
             if max(a + b) - min(a + b) > 1e-9 * max(map(abs, a + b))]
    return bool(pairs) and all(apart(a, b) for a, b in pairs)


def take_rounds(taken, take_round, count):
    """`count` rounds of samples (`take_round()` appends one sample to each list in `taken`), or FIRST_LOOK
    where that is fewer and the two frameworks' samples are `decided` by then. Returns whether they were."""
    while len(taken[0]) < count:
        take_round()
        if len(taken[0]) == FIRST_LOOK < count and decided(taken):
            return True
    return False


def settled(rounds, steady, seconds, first_look=None):
    """What the rounds did, for a row's warm-up record: the rounds `settle` took (dropping as many from the
    front), whether the samples kept are within the limit, the `seconds` all the row's rounds took (the
    other framework's alternating samples included: where a point's time goes), and, for a figure class,
    whether they ended at FIRST_LOOK (`take_rounds`)."""
    done = {"settle_rounds": rounds, "samples_steady": steady, "sampling_seconds": round(seconds, 3)}
    return done if first_look is None else {**done, "decided_at_first_look": first_look}
