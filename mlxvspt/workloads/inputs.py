"""Every data set and checkpoint the user names, checked for content before anything runs.

`paths.checked` says a path exists and is the right kind; `check_all` reads enough of each to know its
workload will load it, through the workload's own reader or validator on the smallest part that proves
the whole (safetensors headers, not tensors; the first clip and the first pair, not all of them). A bad
input is one UsageError naming the flag, the path and what is wrong, within seconds.
"""
import os
import warnings
from pathlib import Path

from .. import paths
from ..measure import presets
from ..errors import UsageError


def ptb(folder, preset):
    from .lm_train.data import SPLITS, read_ptb

    _, train, _, _ = read_ptb(folder)
    context = min(presets.sizes("lm_train", preset, device)["context"] for device in ("cpu", "gpu"))
    if len(train) <= context + 1:  # a training window is context + 1 tokens
        raise UsageError(f"{folder / SPLITS[0]}: {len(train)} tokens, fewer than the {preset} preset's context "
                         f"{context} + 1")


def nli(folder, preset):
    from .bert_train.data import validate

    validate(folder, presets.sizes("bert_train", preset))


def audio(folder, preset):
    from .whisper.audio import from_folder

    with warnings.catch_warnings(record=True) as skipped:  # the reasons go into the one error line
        warnings.simplefilter("always")
        try:
            from_folder(folder, count=1)
        except UsageError as exc:
            first = f" (first file skipped: {skipped[0].message})" if skipped else ""
            raise UsageError(f"{exc}{first}") from None


def llm_checkpoint(folder, preset):
    from .llm.checkpoint import validate_checkpoint

    validate_checkpoint(folder)


def whisper_checkpoint(path, preset):
    from .whisper.checkpoint import validate

    validate(path)


def hosts(path, preset):
    from .dp_train.launch import read_hosts

    read_hosts(path)


def llm_quantizable(folder, preset):
    from .llm.checkpoint import validate_checkpoint, validate_groups
    from .llm_quant.spec import GROUP_SIZE

    validate_groups(validate_checkpoint(folder), GROUP_SIZE, str(folder))


CHECKS = {"ptb": ptb, "nli": nli, "audio": audio, "llm_checkpoint": llm_checkpoint,
          "whisper_checkpoint": whisper_checkpoint, "hosts": hosts}
# What a workload needs of an input beyond what every workload reading it does, checked where it is selected.
NEEDS = {("llm_checkpoint", "llm_quant"): llm_quantizable}


def check(name, path, preset, workloads=None):
    """Raise one UsageError, on one line and naming the flag, if `path` is not a usable input `name` for the
    chosen workloads (default: every one)."""
    flag = f"--{name.replace('_', '-')}"
    try:
        CHECKS[name](Path(path), preset)
        for (needed, workload), need in NEEDS.items():
            if needed == name and (not workloads or workload in workloads):
                need(Path(path), preset)
    except UsageError as exc:
        message = " ".join(str(exc).split())
        if not message.startswith(flag):
            message = f"{flag} {message}" if message.startswith(str(path)) else f"{flag} {path}: {message}"
        raise UsageError(message) from None


def check_all(preset, workloads=None):
    """Check every input the environment names (the CLI has exported the user's flags there) for the chosen
    workloads (default: every one)."""
    for name, (variable, _) in paths.INPUTS.items():
        if os.environ.get(variable):
            check(name, paths.checked(name, os.environ[variable]), preset, workloads)
