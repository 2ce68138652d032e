"""The one table of workload sizes: `tiny` for tests (seconds), `small` for a CPU laptop (the whole
suite within 8 minutes on 2 cores, install included), `full` for the seed's sizes (GPUs), `history` for the CPU
release history that `mlxvspt update` keeps (every row above the noise floor, the ledger in 90 minutes).

`history` sizing, on a 2-core machine: rows whose sample lasts 0.3 s or more spread 1-5% (interquartile
range / median), rows of a few milliseconds 20-60%; and MLX's CPU wheel is 10-30x slower than PyTorch's, so
larger models (batch 32 training, as a first history preset had) cost MLX minutes a sample (its progress
line estimated 2 hours for one ledger point). So `history` keeps `small`'s models or smaller (Whisper and
the LLM on the toy models, with 128 decoded tokens a window and 512-token prefills, so a per-token figure
averages over a long loop) on one path and precision each, and lengthens the samples instead: a time_
sample is the mean of as many calls as fill SAMPLE_SECONDS["history"] (0.3 s).

A preset's "cpu" entry narrows what a CPU runs (`sizes(workload, preset, "cpu")`); elsewhere the preset
publishes everything, so on a GPU `small` covers every path and precision `full` does.

Chosen by `--preset` (or MLXVSPT_PRESET), resolved once by the CLI and passed on as a value; the preset
becomes part of the asv machine name, so results of different presets never share a graph.
"""
from . import settings
from ..errors import UsageError

DEFAULT = settings.DEFAULT_PRESET
# A time_ sample of a shorter step is the mean of as many calls as fill this many seconds (asvbench).
# At `small` 0.25 s: one call a sample of PyTorch's 66 ms BERT step on 2 cores spread 19% over 5 samples.
SAMPLE_SECONDS = {"tiny": 0.05, "small": 0.25, "full": 0.05, "history": 0.3}
# A track_ figure (asvbench.MeasuredOnce) takes 5 samples, or more at these presets: the history's toy
# models decode a token in 1-2 ms on 2 cores, and two hiccups of 5 samples (+30-60% each) set a decode
# row's interquartile range; of 11 they fall outside it. `full` (the GPUs): 10, so that the verdict's 99%
# ratio interval (results.verdict) separates a 3% difference between cells whose spread is under 1%
# (5 samples a side reach only +-0.5%, 7 +-0.9%, 10 +-1%).
FIGURE_SAMPLES = {"history": 11, "full": 10}
# BERT's standard [path, compile] pairs (`compiles`, below): the seed's two eager paths, the best compiled.
BERT_COMPILES = [["seed", False], ["pairs-batched", False], ["best", True]]

TABLE = {
    # CPU<->GPU switch. The seed ran N=10000 for 50 loops; MLX's CPU half runs on the reference BLAS
    # bundled with its Linux wheels (N=2048 took 12.7 s a loop on an H200's host: a 5-loop sample 63 s,
    # ten minutes of the GPU suite), so `full` is N=1024 (1/8 of that CPU work a loop), 2 loops a sample.
    "switch": {
        "tiny": {"n": 64, "loops": 2},
        "small": {"n": 512, "loops": 3},
        "full": {"n": 1024, "loops": 2},
        "history": {"n": 512, "loops": 3},
    },
    # Matmul calibration: square sizes timed per dtype; the largest gives the peak other workloads use.
    # A 2-core CPU times 512 rather than 256: a 256^3 call (0.1 ms in PyTorch) spread 16-26% over 100 samples;
    # and not 1024 by default: MLX's reference BLAS spent 20-40 s of the default run on its three precisions.
    "matmul": {
        "tiny": {"sizes": [64]},
        "small": {"sizes": [256, 1024], "cpu": {"sizes": [512]}},
        "full": {"sizes": [1024, 4096, 8192]},
        "history": {"sizes": [512]},
    },
    # TransformerLM training (mlx-examples transformer_lm); `full` is the seed's model and batch. `steps`:
    # the loss curve the cross-check compares (short: it runs every path x compile x precision);
    # `first_step_rows`: measure the cold and warm first compiled step (1-2 minutes a sample on 2 cores).
    # `compiles` (lm_train, bert_train): the [path, compile] pairs of the standard tier, each path as its
    # users run it (the seed's eager step, the best path compiled); the other pairs (seed compiled, best
    # eager) tell the path's effect from the compiler's and run on request (`--tier diagnostic`): on an
    # H100 at `full` they are 17 of the GPU point's 72 combinations, about 6 minutes warm).
    "lm_train": {
        "tiny": {"layers": 2, "dim": 32, "heads": 2, "context": 16, "batch": 2, "vocab": 200, "steps": 6,
                 "warmup": 5, "eval_batches": 2, "paths": ["seed", "best"],
                 "precisions": ["fp32", "bf16", "bf16-mixed"], "first_step_rows": False},
        "small": {"layers": 2, "dim": 128, "heads": 4, "context": 64, "batch": 4, "vocab": 10000, "steps": 10,
                  "warmup": 200, "eval_batches": 2, "paths": ["seed", "best"],
                  "precisions": ["fp32", "tf32", "bf16", "bf16-mixed"], "first_step_rows": False,
                  "compiles": [["seed", False], ["best", True]], "cpu": {"precisions": ["fp32"]}},
        "full": {"layers": 12, "dim": 1024, "heads": 16, "context": 1024, "batch": 32, "vocab": 10000,
                 "steps": 10, "warmup": 200, "eval_batches": 2, "paths": ["seed", "best"],
                 "precisions": ["fp32", "tf32", "bf16", "bf16-mixed"], "first_step_rows": True,
                 "compiles": [["seed", False], ["best", True]]},
        "history": {"layers": 2, "dim": 128, "heads": 4, "context": 64, "batch": 4, "vocab": 10000, "steps": 10,
                    "warmup": 200, "eval_batches": 2, "paths": ["seed"], "precisions": ["fp32"],
                    "first_step_rows": False},
    },
    # Data-parallel TransformerLM training: lm_train's model, weights and global batch at the same preset,
    # split over `ranks` ranks. The all-reduce calibration sends `allreduce_bytes` of float32. `small` on
    # a GPU publishes what `full` does; a CPU's under "cpu".
    "dp_train": {
        "tiny": {"ranks": [1, 2], "untimed_steps": 2, "timed_steps": 5, "allreduce_bytes": [4096, 1 << 18],
                 "timeout": 300, "precisions": ["fp32"], "compile": False},
        "small": {"ranks": [1, 2], "untimed_steps": 3, "timed_steps": 10,
                  "allreduce_bytes": [1 << 16, 1 << 20, 1 << 24], "timeout": 1200, "precisions": ["tf32", "bf16"],
                  "compile": True, "cpu": {"precisions": ["fp32"], "compile": False}},
        "full": {"ranks": [1, 2, 4], "untimed_steps": 5, "timed_steps": 20,
                 "allreduce_bytes": [1 << 20, 1 << 24, 1 << 28], "timeout": 1500, "precisions": ["tf32", "bf16"],
                 "compile": True, "cpu": {"precisions": ["fp32"], "compile": False}},
        # left out of the release history: a launch per row costs more than the history's budget allows
        "history": {"ranks": [], "untimed_steps": 3, "timed_steps": 10, "allreduce_bytes": [], "timeout": 600,
                    "precisions": ["fp32"], "compile": False},
    },
    # BERT-tiny sentence-pair classifier (Conneau et al. head) on NLI pairs; `pairs` training pairs make
    # one epoch of pairs // batch steps, `dev_pairs` the validation pass, `check_steps` the AdamW steps the
    # cross-check compares from the same weights (MLX's step takes 0.8 s on a 2-core CPU at `small`). `full`
    # keeps the seed's model, batch and sequence; its epoch is 128 steps (the seed's 50,000 pairs, 6,250 steps, made a 5-sample
    # row with its warm-up minutes long in each framework, and 512 steps still took 70-100 s of an H100 point:
    # per-step rates do not depend on the count). `small` keeps the model and seq 128
    # at batch 4 and an epoch of 6 steps: MLX took 1.7 s a step at batch 8 on a 2-core CPU, and leaves
    # torch.compile out (`torch_compile`: inductor took 1-3 minutes to compile the step on 2 cores, even
    # at `tiny` sizes when its cache is cold).
    "bert_train": {
        "tiny": {"hidden": 32, "heads": 2, "layers": 1, "intermediate": 64, "vocab": 1000, "seq": 16,
                 "batch": 4, "pairs": 64, "dev_pairs": 16, "epochs": 1, "dropout": 0.1, "check_steps": 20,
                 "torch_compile": False, "paths": ["seed", "pairs-batched", "best"], "precisions": ["fp32"]},
        "small": {"hidden": 128, "heads": 2, "layers": 2, "intermediate": 512, "vocab": 30522, "seq": 128,
                  "batch": 4, "pairs": 24, "dev_pairs": 16, "epochs": 1, "dropout": 0.1, "check_steps": 5,
                  "torch_compile": True, "paths": ["seed", "pairs-batched", "best"],
                  "precisions": ["fp32", "bf16", "bf16-mixed"], "compiles": BERT_COMPILES,
                  "cpu": {"precisions": ["fp32"], "torch_compile": False, "paths": ["seed", "best"]}},
        "full": {"hidden": 128, "heads": 2, "layers": 2, "intermediate": 512, "vocab": 30522, "seq": 128,
                 "batch": 8, "pairs": 1024, "dev_pairs": 2048, "epochs": 5, "dropout": 0.1, "check_steps": 20,
                 "torch_compile": True, "paths": ["seed", "pairs-batched", "best"],
                 "precisions": ["fp32", "bf16", "bf16-mixed"], "compiles": BERT_COMPILES},
        "history": {"hidden": 128, "heads": 2, "layers": 2, "intermediate": 512, "vocab": 30522, "seq": 128,
                    "batch": 4, "pairs": 16, "dev_pairs": 16, "epochs": 1, "dropout": 0.1, "check_steps": 5,
                    "torch_compile": False, "paths": ["seed"], "precisions": ["fp32"]},
    },
    # Whisper speech-to-text with a fixed number of decoded tokens per 30 s window. MLX's encoder takes
    # ~15 s a window on the Linux CPU wheel's reference BLAS, so `small` transcribes one clip; `full` is
    # 10 of the seed's 70 clips with 32 tokens a window (about a LibriSpeech utterance's length in tokens):
    # a sample is a pass over the clip set, and 70 clips (~22 s a pass in PyTorch on an H100) made five
    # samples of 8 combinations a quarter of an hour; real-time factors are per window anyway.
    # `cpu_fp16`: float16 on a CPU only where it costs seconds (see whisper.spec.unavailable). `phases`: the
    # single phases timed beside the whole window; none on a 2-core CPU at `small`: MLX's encoder takes
    # ~15 s a window there, the whole-window row alone 2.3 minutes of the default run.
    "whisper": {
        "tiny": {"model": "toy", "clips": 2, "tokens": 8, "cpu_fp16": True, "phases": ["mel", "encoder", "decoder"]},
        "small": {"model": "tiny", "clips": 1, "tokens": 16, "cpu_fp16": False, "phases": ["mel", "encoder", "decoder"],
                  "cpu": {"phases": []}},
        "full": {"model": "tiny", "clips": 10, "tokens": 32, "cpu_fp16": False, "phases": ["mel", "encoder", "decoder"]},
        "history": {"model": "toy", "clips": 2, "tokens": 128, "cpu_fp16": False, "phases": ["mel", "encoder", "decoder"]},
    },
    # TinyLlama-1.1B generation: `batch` prompts (one of `batches`) of `prompt_tokens` (the checkpoint's
    # tokenizer sets them when given), exactly `tokens` new ones, greedy, no EOS stop; the prefill rate
    # from a forward over `batch` prompts of `prefill_tokens`. `static_compile`: whether transformers'
    # static-cache torch.compile path runs. `cpu` narrows what a CPU runs: its compile outlasts the budget
    # (37 s for the toy model), float16/bfloat16 and batches multiply MLX's reference-BLAS time. `small`
    # keeps TinyLlama's widths and vocabulary but 4 of its 22 layers: MLX took ~2 s a token, prompt or
    # decode, on all 22 layers on 2 busy cores (torch ~1 s); on a GPU it publishes what `full` does, so
    # `mlxvspt run --preset full` checks every combination first at these sizes.
    "llm": {
        "tiny": {"model": "toy", "prompt_tokens": 16, "prefill_tokens": 32, "tokens": 16, "batches": [1, 2],
                 "precisions": ["fp32", "bf16"], "static_compile": True, "cpu": {"static_compile": False}},
        "small": {"model": "tinyllama", "layers": 4, "prompt_tokens": 16, "prefill_tokens": 16, "tokens": 8,
                  "batches": [1, 8], "precisions": ["fp32", "fp16", "bf16"], "static_compile": True,
                  "cpu": {"batches": [1], "precisions": ["fp32"], "static_compile": False}},
        # The seed answered five prompts with up to 1024 new tokens; rates per token do not depend on the
        # prompt, and transformers' eager path (~18 tokens/s on an H200) would spend 5 minutes a sample,
        # so `full` times a 128-token prompt and 32 new tokens per sample, alone and as a batch of 8
        # (mlx-lm's batch_generate, transformers' generate on a batch); prefill over 1024-token prompts.
        # 32, not 128 or 64: on an H100 the generate path's samples (10 a side, interleaved) took 45-72 s a
        # combination at 128 tokens, most of it PyTorch's eager decoding at ~20 ms a token, and at 64 the
        # 12 combinations still took 11 of a cold point's 26 minutes.
        "full": {"model": "tinyllama", "prompt_tokens": 128, "prefill_tokens": 1024, "tokens": 32,
                 "batches": [1, 8], "precisions": ["fp32", "fp16", "bf16"], "static_compile": True,
                 "cpu": {"batches": [1], "precisions": ["fp32"], "static_compile": False}},
        "history": {"model": "toy", "prompt_tokens": 16, "prefill_tokens": 512, "tokens": 64, "batches": [1],
                    "precisions": ["fp32"], "static_compile": False},
    },
    # Quantized TinyLlama generation (llm_quant): llm's generation sizes on weight-only quantized models,
    # `schemes` int4 and int8 (llm_quant/spec.py); each framework's fast path: mlx-lm's generation,
    # torchao under transformers' static-cache torch.compile (`static_compile`). The perplexity check scores
    # `ppl_windows` windows of `ppl_window` tokens. GPUs: fp16 and bf16 (torchao's int4 kernel takes
    # bfloat16 only). A CPU measures nothing at `small` and `full` (schemes []): torchao's int8 is a fast
    # path only compiled, longer than the CPU's budget, and its int4 kernel is CUDA-only, so no row could
    # be compared; `tiny` (tests) runs MLX's rows there. `toy64`: the toy with widths a multiple of the
    # quantization group (the toy's intermediate 176 is not).
    "llm_quant": {
        "tiny": {"model": "toy64", "prompt_tokens": 16, "prefill_tokens": 32, "tokens": 16, "batches": [1, 2],
                 "precisions": ["fp32"], "schemes": ["int4", "int8"], "static_compile": True, "ppl_window": 32,
                 "ppl_windows": 4, "cpu": {"static_compile": False}},
        "small": {"model": "tinyllama", "layers": 4, "prompt_tokens": 16, "prefill_tokens": 16, "tokens": 8,
                  "batches": [1, 8], "precisions": ["fp16", "bf16"], "schemes": ["int4", "int8"],
                  "static_compile": True, "ppl_window": 256, "ppl_windows": 8,
                  "cpu": {"schemes": [], "batches": [1], "precisions": ["fp32"], "static_compile": False}},
        "full": {"model": "tinyllama", "prompt_tokens": 128, "prefill_tokens": 1024, "tokens": 32,
                 "batches": [1, 8], "precisions": ["fp16", "bf16"], "schemes": ["int4", "int8"],
                 "static_compile": True, "ppl_window": 1024, "ppl_windows": 32,
                 "cpu": {"schemes": [], "batches": [1], "precisions": ["fp32"], "static_compile": False}},
        "history": {"model": "toy64", "prompt_tokens": 16, "prefill_tokens": 512, "tokens": 64, "batches": [1],
                    "precisions": ["fp32"], "schemes": [], "static_compile": False, "ppl_window": 32,
                    "ppl_windows": 4},
    },
}
NAMES = ("tiny", "small", "full", "history")


def sizes(workload, preset, device=None):
    """The sizes of one workload at a preset; on `device` "cpu", with the preset's narrower "cpu" entries
    on top (the whole table, "cpu" entry included, when no device is given)."""
    if workload not in TABLE:
        raise UsageError(f"unknown workload {workload!r}; choose one of: {', '.join(TABLE)}")
    if preset not in NAMES:
        raise UsageError(f"unknown preset {preset!r}; choose one of: {', '.join(NAMES)}")
    table = dict(TABLE[workload][preset])
    return table if device is None else on_device(table, device)


def on_device(sizes, device):
    """Sizes with their "cpu" entry applied on a CPU and dropped elsewhere, their precisions narrowed to
    those the user chose (`--precision`)."""
    sizes = dict(sizes)
    narrower = sizes.pop("cpu", {})
    sizes = {**sizes, **narrower} if device == "cpu" else sizes
    if settings.precisions() and "precisions" in sizes:
        sizes["precisions"] = [p for p in sizes["precisions"] if p in settings.precisions()]
    return sizes
