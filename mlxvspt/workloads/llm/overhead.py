"""Harness overhead of the suite's MLX generation, measured: mlx-lm's own benchmark tool
(`python -m mlx_lm.benchmark`, in its own process) and the suite's MLX runner on the same weights, dtype,
prompt and token counts, then suite / tool for decode and prompt ms/token (goal: <= 1.05).

mlx_lm.benchmark loads a folder with a tokenizer (`mlx_lm.load`) in the dtype stored there, so the tool
gets a folder beside the checkpoint: its config, its weights cast to the precision, and a tokenizer (the
checkpoint's, or a word-level one naming every id). Its prompt is `mx.random.seed(0)` then
`mx.random.randint(0, vocab, (batch, P))`; the suite's runner gets that same prompt. Both run on MLX's
default device (the GPU where there is one). Definitions differ slightly and are aligned here:
- decode: the tool's generation_tps counts G tokens over the time after the first token (batch 1;
  batch_generate's counts every token over its decode steps); the suite's decode ms/token spreads that
  time over G - 1 tokens, so it is scaled by (G - 1) / G;
- prompt: the tool's prompt_tps = prompt tokens (all prompts) / time to first token; the suite's
  TTFT / prompt tokens. At batch > 1 batch_generate times only its prompt steps (no setup, no first
  sampling), so there the prompt ratio overstates the suite's overhead.

    python -m mlxvspt.workloads.llm.overhead --preset tiny [--precision fp16] [--batch 1] [--trials 5]
        [--rounds 2] [--json FILE]
"""
import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys

from ... import paths
from ...measure.timing import warm_up
from ...measure.devices import PRECISIONS, Target, framework_module
from ...measure.presets import NAMES
from ...measure.presets import sizes as preset_sizes
from .. import implementation
from . import checkpoint
from .spec import Runner

TRIAL = re.compile(r"Trial \d+:\s+prompt_tps=([\d.]+), generation_tps=([\d.]+)")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json")


def source_folder(sizes):
    """The user's --llm-checkpoint (validated) or the preset's seeded checkpoint."""
    folder = paths.user_input("llm_checkpoint")
    if folder is None:
        return checkpoint.seeded_checkpoint(sizes["model"], sizes.get("layers"))
    checkpoint.validate_checkpoint(folder)
    return folder


def word_tokenizer(folder, vocab):
    """A word-level tokenizer naming every id (t0, t1...): the tool needs one; ids are all it feeds. Written
    with `tokenizers` alone: importing transformers would load torch into the measuring process."""
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0")).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "t0", "bos_token": "t1", "eos_token": "t2"}))


def tool_folder(source, precision):
    """config.json, the weights in `precision`'s dtype, a tokenizer: what mlx_lm.load reads. Built once."""
    import mlx.core as mx

    dtype = PRECISIONS[precision]
    folder = paths.cache_dir() / "llm" / "overhead" / f"{source.name}-{dtype}"
    if (folder / "config.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cfg = json.loads((source / "config.json").read_text())
    for file in sorted(source.glob("model*.safetensors")):
        arrays = mx.load(str(file))
        cast = {k: v.astype(getattr(mx, dtype)) if mx.issubdtype(v.dtype, mx.floating) else v for k, v in arrays.items()}
        mx.save_safetensors(str(tmp / file.name), cast, metadata={"format": "mlx"})
    if (source / "model.safetensors.index.json").is_file():
        shutil.copy(source / "model.safetensors.index.json", tmp)
    found = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    for name in found:
        shutil.copy(source / name, tmp)
    if not found:
        word_tokenizer(tmp, cfg["vocab_size"])
    (tmp / "config.json").write_text(json.dumps({**cfg, "torch_dtype": dtype}, indent=1))
    tmp.rename(folder)
    return folder


def tool_prompts(vocab, batch, length):
    """The prompts mlx_lm.benchmark draws."""
    import mlx.core as mx

    mx.random.seed(0)
    return mx.random.randint(0, vocab, (batch, length)).tolist()


def run_tool(folder, sizes, batch, trials):
    """(decode ms/token, prompt ms/token) per trial of `python -m mlx_lm.benchmark`."""
    command = [sys.executable, "-m", "mlx_lm.benchmark", "--model", str(folder), "-p", str(sizes["prompt_tokens"]),
               "-g", str(sizes["tokens"]), "-b", str(batch), "-n", str(trials)]
    out = subprocess.run(command, capture_output=True, text=True)
    found = TRIAL.findall(out.stdout)
    if out.returncode or len(found) != trials:
        raise RuntimeError(f"{' '.join(command)} failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    return [(1e3 / float(gen), 1e3 / float(prompt)) for prompt, gen in found]


def suite_runner(folder, sizes, precision, batch):
    """The suite's MLX runner on the tool's folder and prompts, warmed up to steady state."""
    target = Target("mlx", "gpu" if framework_module("mlx").gpu_backend() else "cpu", precision).activate()
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    prompts = tool_prompts(vocab, batch, sizes["prompt_tokens"])
    generator = implementation("llm", "mlx").Generator(target, folder, "generate")
    runner = Runner(target, generator, "generate", prompts, prompts, sizes["tokens"])
    warm_up(runner.step)
    return runner


def run_suite(runner, sizes, trials):
    """(decode ms/token, prompt ms/token) per step of the suite's MLX runner, on the tool's definitions."""
    tokens, prompt_tokens = sizes["tokens"], sizes["prompt_tokens"] * len(runner.prompts)
    figures = [runner.step() for _ in range(trials)]
    return [(f["decode_ms_per_token"] * (tokens - 1) / tokens, f["ttft_ms"] / prompt_tokens) for f in figures]


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(preset="tiny", precision="fp32", batch=1, trials=5, rounds=2):
    """Both measurements and their ratios, as a dict (what main prints). Rounds alternate tool and suite,
    so a drift of the shared host over minutes reaches both."""
    sizes = preset_sizes("llm", preset)
    folder = tool_folder(source_folder(sizes), precision)
    runner = suite_runner(folder, sizes, precision, batch)
    tool, suite = [], []
    for _ in range(rounds):
        tool += run_tool(folder, sizes, batch, trials)
        suite += run_suite(runner, sizes, trials)
    out = {"preset": preset, "precision": precision, "batch": batch, "trials": trials * rounds,
           "device": runner.target.device,
           "prompt_tokens": sizes["prompt_tokens"], "tokens": sizes["tokens"], "folder": str(folder)}
    for i, figure in enumerate(("decode_ms_per_token", "prompt_ms_per_token")):
        t, s = summary([x[i] for x in tool]), summary([x[i] for x in suite])
        out[figure] = {"mlx_lm.benchmark": t, "suite": s, "ratio": s["median"] / t["median"]}
    return out


def report(result):
    lines = [f"MLX generation, harness overhead: {result['device']}, {result['precision']}, batch {result['batch']}, "
             f"prompt {result['prompt_tokens']} tokens, {result['tokens']} new tokens, {result['trials']} trials each "
             f"(model {result['folder']})"]
    for figure in ("decode_ms_per_token", "prompt_ms_per_token"):
        row = result[figure]
        cells = [f"{who} {v['median']:.4g} [{v['min']:.4g}-{v['max']:.4g}]"
                 for who, v in (("mlx_lm.benchmark", row["mlx_lm.benchmark"]), ("suite", row["suite"]))]
        lines.append(f"{figure.replace('_', ' ')}, median [min-max]: {'; '.join(cells)}; "
                     f"suite / mlx_lm.benchmark = {row['ratio']:.3f} (goal <= 1.05)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=NAMES, default="tiny")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--trials", type=int, default=5, help="trials per round (mlx_lm.benchmark -n)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each the tool then the suite")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if min(args.batch, args.trials, args.rounds) < 1:
        parser.error("--batch, --trials and --rounds must be at least 1")
    result = measure(args.preset, args.precision, args.batch, args.trials, args.rounds)
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
