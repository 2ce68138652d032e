"""The two ways a request can fail, so the CLI and asv can answer each the right way."""
import re
from contextlib import contextmanager

OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate|unable to allocate|malloc", re.IGNORECASE)
# How MLX says a primitive has no kernel for this device or dtype, e.g.
# "[AddMM::eval_cpu] Currently only supports float32."
MISSING_OP = re.compile(r"^\[\w+::eval_(cpu|gpu)\]")



class UsageError(ValueError):
    """Bad input from the user: the CLI prints one line and exits with code 2."""


class Unavailable(RuntimeError):
    """A valid request this machine cannot serve (no GPU backend, missing op, dtype).

    Benchmarks turn it into asv's "skipped" (n/a) with the reason, never into an error.
    """


@contextmanager
def device_limits(what):
    """Turn what the device cannot do (run out of memory, lack an op) into Unavailable with the
    reason; any other error passes through."""
    try:
        yield
    except MemoryError:
        raise Unavailable(f"{what} ran out of memory") from None
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        if OUT_OF_MEMORY.search(str(exc)):
            raise Unavailable(f"{what} ran out of memory: {first}") from None
        if MISSING_OP.search(str(exc)):
            raise Unavailable(f"{what}: the device lacks an op: {first}") from None
        raise
