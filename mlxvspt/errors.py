"""The two ways a request can fail, so the CLI and asv can answer each the right way."""


class UsageError(ValueError):
    """Bad input from the user: the CLI prints one line and exits with code 2."""


class Unavailable(RuntimeError):
    """A valid request this machine cannot serve (no GPU backend, missing op, dtype).

    Benchmarks turn it into asv's "skipped" (n/a) with the reason, never into an error.
    """
