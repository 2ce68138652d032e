"""The one table of workload sizes: `tiny` for tests (seconds), `small` for a CPU laptop (the whole
suite in under 30 minutes on 2 cores), `full` for the seed's sizes (GPUs).

Chosen by `--preset` or the MLXVSPT_PRESET environment variable; the preset becomes part of the asv
machine name, so results of different presets never share a graph.
"""
import os

from .errors import UsageError

ENV = "MLXVSPT_PRESET"
DEFAULT = "small"

TABLE = {
    # CPU<->GPU switch. The seed ran N=10000 for 50 loops; MLX's CPU half runs on the reference BLAS
    # bundled with its Linux wheels (N=2048 took 12.7 s a loop), so `full` stops at N=2048, 5 loops.
    "switch": {
        "tiny": {"n": 64, "loops": 2},
        "small": {"n": 512, "loops": 3},
        "full": {"n": 2048, "loops": 5},
    },
    # Matmul calibration: square sizes timed per dtype; the largest gives the peak other workloads use.
    "matmul": {
        "tiny": {"sizes": [64]},
        "small": {"sizes": [256, 1024]},
        "full": {"sizes": [1024, 4096, 8192]},
    },
    # TransformerLM training (mlx-examples transformer_lm); `full` is the seed's model and batch.
    "lm_train": {
        "tiny": {"layers": 2, "dim": 32, "heads": 2, "context": 16, "batch": 2, "vocab": 200, "steps": 20,
                 "warmup": 5, "eval_batches": 2, "precisions": ["fp32"]},
        "small": {"layers": 2, "dim": 128, "heads": 4, "context": 64, "batch": 8, "vocab": 10000, "steps": 20,
                  "warmup": 200, "eval_batches": 2, "precisions": ["fp32"]},
        "full": {"layers": 12, "dim": 1024, "heads": 16, "context": 1024, "batch": 32, "vocab": 10000,
                 "steps": 100, "warmup": 200, "eval_batches": 2, "precisions": ["fp32", "tf32", "bf16"]},
    },
    # Data-parallel TransformerLM training: lm_train's model, weights and global batch at the same preset,
    # split over `ranks` ranks. The all-reduce calibration sends `allreduce_bytes` of float32.
    "dp_train": {
        "tiny": {"ranks": [1, 2], "untimed_steps": 2, "timed_steps": 5, "allreduce_bytes": [4096, 1 << 18],
                 "timeout": 300, "precisions": ["fp32"], "compile": False},
        "small": {"ranks": [1, 2], "untimed_steps": 3, "timed_steps": 10,
                  "allreduce_bytes": [1 << 16, 1 << 20, 1 << 24], "timeout": 1200, "precisions": ["fp32"],
                  "compile": False},
        "full": {"ranks": [1, 2, 4], "untimed_steps": 5, "timed_steps": 20,
                 "allreduce_bytes": [1 << 20, 1 << 24, 1 << 28], "timeout": 1500, "precisions": ["tf32", "bf16"],
                 "compile": True},
    },
    # BERT-tiny sentence-pair classifier (Conneau et al. head) on NLI pairs; `pairs` training pairs make
    # one epoch of pairs // batch steps, `dev_pairs` the validation pass. `small` keeps the model and the
    # seq 128 x batch 8 step but shortens the epoch: MLX took 1.4 s a step on a 2-core CPU, and leaves
    # torch.compile out (`torch_compile`: inductor took 1-3 minutes to compile the step on 2 cores, even
    # at `tiny` sizes when its cache is cold).
    "bert_train": {
        "tiny": {"hidden": 32, "heads": 2, "layers": 1, "intermediate": 64, "vocab": 1000, "seq": 16,
                 "batch": 4, "pairs": 64, "dev_pairs": 16, "epochs": 1, "dropout": 0.1,
                 "torch_compile": False, "precisions": ["fp32"]},
        "small": {"hidden": 128, "heads": 2, "layers": 2, "intermediate": 512, "vocab": 30522, "seq": 128,
                  "batch": 8, "pairs": 128, "dev_pairs": 64, "epochs": 1, "dropout": 0.1,
                  "torch_compile": False, "precisions": ["fp32"]},
        "full": {"hidden": 128, "heads": 2, "layers": 2, "intermediate": 512, "vocab": 30522, "seq": 128,
                 "batch": 8, "pairs": 50000, "dev_pairs": 10000, "epochs": 5, "dropout": 0.1,
                 "torch_compile": True, "precisions": ["fp32", "bf16"]},
    },
    # Whisper speech-to-text with a fixed number of decoded tokens per 30 s window. MLX's encoder takes
    # ~15 s a window on the Linux CPU wheel's reference BLAS, so `small` transcribes one clip; `full` is
    # the seed's 70 clips with 32 tokens a window (about a LibriSpeech utterance's length in tokens).
    "whisper": {
        "tiny": {"model": "toy", "clips": 2, "tokens": 8},
        "small": {"model": "tiny", "clips": 1, "tokens": 16},
        "full": {"model": "tiny", "clips": 70, "tokens": 32},
    },
    # TinyLlama-1.1B generation: `prompts` prompts of `prompt_tokens` (the checkpoint's tokenizer sets
    # them when given), exactly `tokens` new ones, greedy, no EOS stop. `small` keeps TinyLlama's widths
    # and vocabulary but 4 of its 22 layers: MLX (reference BLAS) took ~2 s a token, prompt or decode,
    # on all 22 layers on 2 busy cores (torch ~1 s), so one asv process there would outlast the budget.
    # `compile` False: static-cache torch.compile is n/a there (its CPU compile outlasts the budget).
    "llm": {
        "tiny": {"model": "toy", "prompts": 1, "prompt_tokens": 16, "tokens": 16, "dtypes": ["float32"],
                 "compile": False},
        "small": {"model": "tinyllama", "layers": 4, "prompts": 1, "prompt_tokens": 16, "tokens": 8,
                  "dtypes": ["float32"], "compile": False},
        # The seed answered five prompts with up to 1024 new tokens; rates per token do not depend on the
        # prompt, and transformers' eager path (~18 tokens/s on an H200) would spend 5 minutes a sample,
        # so `full` times one 128-token prompt and 256 new tokens per sample.
        "full": {"model": "tinyllama", "prompts": 1, "prompt_tokens": 128, "tokens": 256,
                 "dtypes": ["float32", "float16", "bfloat16"], "compile": True},
    },
}
NAMES = ("tiny", "small", "full")


def current():
    """The preset in force for this process (asv passes the environment on to its benchmarks)."""
    name = os.environ.get(ENV, DEFAULT)
    if name not in NAMES:
        raise UsageError(f"unknown preset {name!r}; choose one of: {', '.join(NAMES)}")
    return name


def sizes(workload, preset=None):
    """The sizes of one workload at a preset (the current one by default)."""
    if workload not in TABLE:
        raise UsageError(f"unknown workload {workload!r}; choose one of: {', '.join(TABLE)}")
    return dict(TABLE[workload][preset or current()])
