"""`mlxvspt bisect A B BENCH`: which ledger point between A (before) and B (slower) brought the slowdown of
one benchmark row. asv's `find` idea over releases: measure the middle point, keep the half that holds
the change, until two neighbours remain. A point that gives no result (its releases do not install here,
or the benchmark fails) is dropped from the search, as `asv find --skip` does.
"""
import re

from ..publish import release_diff
from .. import ledger
from ..errors import UsageError


def search(points, slower, say=print):
    """(last point like A, first point like B) among `points` (ledger order, A first, B last);
    slower(point) says whether that point is slower than A (None: no result there)."""
    points = list(points)
    lo, hi = 0, len(points) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        verdict = slower(points[mid])
        say(f"  {points[mid]}: {'no result, skipped' if verdict is None else 'slower' if verdict else 'like A'}")
        if verdict is None:
            del points[mid]
            hi -= 1
        elif verdict:
            hi = mid
        else:
            lo = mid
    return points[lo], points[hi]


def row_named(rows, pattern, name=lambda row: row.name):
    """The one row whose asv name matches `pattern` (a regular expression)."""
    try:
        found = [row for row in rows if re.search(pattern, name(row))]
    except re.error as exc:
        raise UsageError(f"{pattern!r}: not a regular expression ({exc})") from None
    if len(found) != 1:
        names = ", ".join(name(r) for r in found[:4]) or ", ".join(name(r) for r in rows[:4])
        raise UsageError(f"{pattern!r} matches {len(found)} benchmark rows, not one (e.g. {names})")
    return found[0]


def bisect(a, b, pattern, measurer, factor, say=print):
    """Measure what is missing and narrow A..B down to the point that made `pattern`'s row slower."""
    points = [name for name, _ in ledger.build()]
    a, b = (ledger.resolve(ledger.build(), p)[0] for p in (a, b))
    if points.index(a) >= points.index(b):
        raise UsageError(f"{a} is not before {b} in the ledger")
    known = release_diff.known_rows(measurer.results_dir)
    if known:  # the pattern must name one row of the suite before anything is measured
        row_named(known, pattern, name=str)
    entries = {e["name"]: e for e in ledger.load()}
    between = [p for p in points[points.index(a):points.index(b) + 1] if ledger.on_the_way(entries[p], entries[a], entries[b])]
    missing = [p for p in (a, b) if not measurer.has_results(p)]
    if missing:
        measurer.measure(missing)
    row = row_named(measurer.rows(a, b), pattern)
    if row.mark(factor) != "slower":
        say(f"{row.name}: {a} -> {b} is {row.b / row.a:.3f}x, not slower beyond {factor}x: nothing to bisect")
        return None

    def slower(point):
        if not measurer.has_results(point):
            measurer.measure([point])
        if not measurer.has_results(point):
            return None
        match = [r for r in measurer.rows(a, point) if r.name == row.name]
        return None if not match else match[0].mark(factor) == "slower"

    say(f"{row.name}: {a} -> {b} is {row.b / row.a:.3f}x; searching {len(between) - 2} point(s) between")
    good, bad = search(between, slower, say)
    say(f"the slowdown came with {bad} (after {good})")
    return good, bad
