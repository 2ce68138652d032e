"""What a run shows while it runs: one line per benchmark ([k/N], its outcome, time elapsed and an estimate
of what remains, failures in red with their reason); asv's whole output (stdout and stderr, in order) goes
to a log file, and to the terminal as well with `verbose`.
"""
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from ..measure.processes import family, stop


# asv's line ending a benchmark, e.g. "[100.00%] ··· bench_llm.Llm.track_decode    3/12 failed"
OUTCOME = re.compile(r"^\[\s*[\d.]+%\] ·+ (?P<name>\S+)\s{2,}(?P<status>ok|n/a|skipped|failed|\d+/\d+ failed)\s*$")
# the line of a benchmark's stderr that says why it failed (asv's "skipped: NotImplementedError" is n/a, not this)
REASON = re.compile(r"^(asv: benchmark (?:timed out|failed).*"
                    r"|(?:\w+\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b.*)$")
# a history's ledger point (asv: "· For mlxvspt commit 3c8b4103 <mlx-0.26.5>:"), and its release set failing to install
POINT = re.compile(r"For mlxvspt commit \w+ <(?P<point>[^>]+)>:")
INSTALL_FAILED = re.compile(r"Error running .*install_pins\.py")
RED, PLAIN = "\033[31m", "\033[0m"


def outcome(output, code):
    """(status, reason) of one asv run from its output: "ok", "n/a", "failed" or "k/n failed", and for a
    failure the first reason asv's stderr gives, with the parameters it failed for. A history's ledger
    point whose release set does not install here (asv skips it) is named with pip's first error."""
    statuses, reason, params, point, uninstallable = [], None, None, None, {}
    for line in output.splitlines():
        m = OUTCOME.match(line)
        if m:
            statuses.append(m["status"])
            continue
        text = line.strip()
        if m := POINT.search(text):
            point = m["point"]
        elif INSTALL_FAILED.search(text):
            uninstallable[point] = None
        elif point in uninstallable:  # pip's output and the installer's traceback, until asv moves on
            if text.startswith("ERROR:") and uninstallable[point] is None:
                uninstallable[point] = text.removeprefix("ERROR:").strip()
            elif text.startswith("["):  # asv's next progress line
                point = None
        elif text.startswith("For parameters:"):
            params = text.removeprefix("For parameters:").strip()
        elif reason is None and REASON.match(text):
            reason = f"{params}: {text}" if params else text
    failed = [s for s in statuses if "failed" in s]
    skipped = "; ".join(f"{p} does not install here: {e or 'see the log'}" for p, e in uninstallable.items())
    if failed:
        status = failed[0] if len(statuses) == 1 else f"{len(failed)}/{len(statuses)} failed"
    elif code and skipped:
        status, reason = "ok but for ledger points that do not install here", None
    elif code:
        status = "failed"
        reason = reason or next((t.strip() for t in reversed(output.splitlines()) if t.strip()), f"exit code {code}")
    elif statuses:
        status = "ok" if "ok" in statuses else "n/a"
    else:  # --resume: asv skipped what has results already
        status = "nothing to run (results kept)"
    reason = reason if "failed" in status else None
    return status, "; ".join(filter(None, (reason, skipped))) or None


class Watchdog:
    """Stops a process and everything it started once `silence` seconds pass without a reset (None: never)."""

    def __init__(self, pid, silence):
        self.pid, self.silence, self.fired, self.timer = pid, silence, False, None
        self.reset()

    def reset(self):
        self.cancel()
        if self.silence:
            self.timer = threading.Timer(self.silence, self.fire)
            self.timer.daemon = True
            self.timer.start()

    def fire(self):
        self.fired = True
        stop(family(self.pid))

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()


class Progress:
    """The terminal side of a run: `command` runs one asv call into the log; `finished` prints its line."""

    def __init__(self, log_path, verbose=False, stream=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.verbose, self.total, self.done, self.bar = verbose, 0, 0, None
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "a", encoding="utf-8")
        self.say(f"log: {self.log_path}" + ("" if verbose else " (asv's full output; -v shows it here too)"))

    def begin(self, planned, estimates):
        """Start counting the parts of `planned` ({part: rows}); `estimates` ({part: seconds or None}, the
        plan's: this machine's last durations, else its preset's reference machine's) make the time left:
        the estimates of the parts to come, scaled by how the finished parts compared with theirs."""
        self.total, self.start = len(planned), time.monotonic()
        self.estimates, self.spent, self.expected = dict(estimates), 0.0, 0.0
        # the live bar only on a terminal: in a pipe or file the per-part lines say the same
        self.bar = tqdm(total=self.total, file=self.stream, leave=False, disable=not self.tty, dynamic_ncols=True,
                        bar_format="{n_fmt}/{total_fmt} |{bar}| {elapsed} {desc}")

    def left(self, part, seconds):
        """Seconds left after `part` took `seconds`: from the estimates where known, else the mean part."""
        estimate = self.estimates.pop(part, None)
        if estimate:
            self.spent, self.expected = self.spent + seconds, self.expected + estimate
        pace = self.spent / self.expected if self.expected else 1.0
        known = [s for s in self.estimates.values() if s]
        unknown = len(self.estimates) - len(known)
        mean = (time.monotonic() - self.start) / max(self.done, 1)
        return pace * sum(known) + unknown * mean

    def say(self, line, failed=False):
        color = failed and self.tty and not os.environ.get("NO_COLOR")
        tqdm.write(f"{RED}{line}{PLAIN}" if color else line, file=self.stream)
        self.stream.flush()

    def command(self, cmd, env=None, silence=None):
        """Run `cmd` with its stdout and stderr, in order, into the log; returns (exit code, output). `silence`:
        seconds without a line of output after which it and every process it started are stopped as hung,
        the output's last line saying so."""
        self.log.write(f"$ {' '.join(map(str, cmd))}\n")
        self.log.flush()
        lines = []
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", bufsize=1) as proc:
            watchdog = Watchdog(proc.pid, silence)
            try:
                for line in proc.stdout:
                    watchdog.reset()
                    self.log.write(line)
                    self.log.flush()
                    lines.append(line)
                    if self.verbose:
                        self.say(line.rstrip("\n"))
            except BaseException:  # Ctrl-C or SIGTERM: asv and every process it started stop too
                stop(family(proc.pid))
                raise
            finally:
                watchdog.cancel()
        if watchdog.fired:
            lines.append(f"no output for {silence:g} s: stopped as hung\n")
            self.log.write(lines[-1])
        return proc.returncode, "".join(lines)

    def running(self, name):
        self.bar.set_description_str(name)

    def finished(self, name, output, code):
        """Print one line for a finished benchmark; returns its status."""
        status, reason = outcome(output, code)
        self.done += 1
        self.bar.update(1)
        meter = tqdm.format_meter(self.done, self.total, time.monotonic() - self.start,
                                  bar_format="{elapsed} elapsed, ~{remaining} left")
        self.say(f"[{self.done}/{self.total}] {name}: {status}{f' ({reason})' if reason else ''}; {meter}",
                 failed="failed" in status)
        return status

    def finished_part(self, part, lines, seconds, failure=None):
        """Print one line for a finished part (a workload on a device): its rows' outcomes, time and the
        time left; returns 1 if a row failed, else 0."""
        counts = {"ok": 0, "n/a": 0, "failed": 0}
        for line in lines:
            counts["n/a" if line.get("result") == "n/a" else "failed" if line.get("result", 0) is None else "ok"] += 1
        self.done += 1
        self.bar.update(1)
        failed = next((line for line in lines if line.get("result", 0) is None), None)
        reason = f" (first: {failed['name']}[{failed['idx']}]: {failed.get('stderr') or failure})" if failed else ""
        left = time.strftime("%M:%S", time.gmtime(self.left(part, seconds))) if self.done < self.total else "00:00"
        self.say(f"[{self.done}/{self.total}] {part[0]} on {part[1]}: {counts['ok']} rows measured, "
                 f"{counts['n/a']} n/a, {counts['failed']} failed in {time.strftime('%M:%S', time.gmtime(seconds))}"
                 f"{reason}; ~{left} left", failed=bool(failed))
        return 1 if failed else 0

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.log.close()
