"""The processes a command started, found and stopped by walking /proc (or `ps`): a launcher's ranks, asv's
forkserver and benchmark processes. Used where a child must not outlive its run (a crashed rank, a run
stopped by SIGTERM), including grandchildren that were given a session of their own.
"""
import os
import signal
import subprocess
import time
from pathlib import Path


def processes():
    """{pid: (parent pid, process group, start time)} of every living process here (zombies left out)."""
    table = {}
    if Path("/proc/self/stat").exists():
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if fields[0] != "Z":
                    table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[19])
        return table
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat=,lstart="], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        pid, ppid, pgid, stat, start = line.split(None, 4)
        if not stat.startswith("Z"):
            table[int(pid)] = (int(ppid), int(pgid), start)
    return table


def family(root):
    """{pid: start time} of `root`, its descendants and its process group (start_new_session makes
    the launcher a group leader; ranks whose parent died are still in it)."""
    table = processes()
    found = {pid: info[2] for pid, info in table.items() if pid == root or info[1] == root}
    grew = True
    while grew:
        children = {pid: info[2] for pid, info in table.items() if info[0] in found and pid not in found}
        found.update(children)
        grew = bool(children)
    return found


def stop(seen, grace=10.0):
    """SIGKILL each recorded process still alive (the start time guards against a reused pid) and
    wait until they are gone: a killed process takes a moment to exit on a busy machine."""
    deadline = time.monotonic() + grace
    while True:
        alive = processes()
        left = [pid for pid, start in seen.items()
                if pid in alive and alive[pid][2] == start and pid != os.getpid()]
        if not left or time.monotonic() > deadline:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
