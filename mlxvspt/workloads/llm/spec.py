"""TinyLlama-1.1B text generation (the seed's issue 3): transformers vs mlx-lm on the same Llama weights.

Work of one step, in the run's precision (fp32, fp16 or bf16: weights and activations in that dtype):
1. prefill: one forward over `batch` seeded prompts of `prefill_tokens` tokens (1024 at `full`) into a
   fresh KV cache, logits at every position in both frameworks, synchronised: the prompt-processing
   rate, timed on its own (the generation call's own prefill is inside its time to first token);
2. generation: `batch` prompts (P = `prompt_tokens` tokens each) then exactly `tokens` (G) new tokens,
   greedy, end-of-sequence disabled, through the library's own generation call, as its users run it:
   transformers `LlamaForCausalLM.generate` on the batch (path "generate": eager, dynamic cache; path
   "static-compile": `cache_implementation="static"`, for which generate torch.compiles the decoding
   forward); mlx-lm's `generate_step` for one prompt (what its `generate`/`stream_generate` run) and its
   `BatchGenerator` for several (what its `batch_generate` runs).
   A path a framework lacks is measured with that framework's own generation path beside the other's:
   MLX's static-compile rows are mlx-lm's generation (what ran says path "generate"), built, checked and
   timed in PyTorch's static-compile combination, samples alternating, so the pair shares its minutes.

Figures of a step (`Runner.step`), the same definition in both frameworks:
- prefill ms/token = prefill seconds / (batch x prefill_tokens);
- time to first token (TTFT) = from the generation call's start until the first step's tokens reach
  Python (transformers: its streamer's put(), a host copy; mlx-lm: the token ids it yields): the
  library's setup, the prompt's forward and the first sampling;
- decode ms/token = (last - first token timestamp) / ((G - 1) x batch): per generated token, so a
  batched decode reads as its throughput;
- peak memory over the generation call: MLX's allocator peak; PyTorch's allocator peak on CUDA, the
  process's max RSS on CPU (interpreter and libraries included; it cannot be reset);
- energy J/token = the GPU's energy over the generation call (NVML's counter, measure/energy.py) / (G x
  batch): its prompt's prefill included, as in its time to first token; on a device without the counter,
  the reason (n/a).

Weights: seeded (checkpoint.py) or the user's --llm-checkpoint folder, whose tokenizer and chat template
then turn PROMPTS into the generation prompts (transformers left-pads prompts of unequal length, mlx-lm's
BatchGenerator handles them itself); the prefill prompts stay seeded ids of the preset's length.
"""
import json
import time

import numpy as np

from ... import paths
from ...measure.check import TOLERANCES, CheckResult, case_of, path_label
from ...measure.devices import Target
from ...measure.energy import meter
from ...errors import Unavailable, UsageError
from ...measure.presets import on_device, sizes as preset_sizes
from .. import cross_check, implementation
from . import checkpoint

# Host-bound classes (results.Row.host_bound says what that means); between two one-H100 machines: decode,
# time-to-first-token and prefill rows moved up to 71% (PyTorch's static-compile decode at batch 8: 1%).
HOST_BOUND = ("Generation",)
CHECK_CASE = ("batch",)  # each batch is checked on its own (check.case_of)

# The seed's five prompts (chat-templated when a checkpoint brings a tokenizer).
PROMPTS = (
    "Explain in simple terms how a transformer language model generates text one token at a time.",
    "Write a short poem about the ocean at night.",
    "What are three practical tips for someone learning to cook at home?",
    "Summarise the causes of the First World War in a few sentences.",
    "Write a Python function that checks whether a string is a palindrome, and explain it.",
)

# Generation paths: which frameworks have each one (a framework without one runs its `generate` there,
# beside the other's: `generation_path`), and what each compiles.
PATHS = {"generate": ("mlx", "torch"), "static-compile": ("torch",)}
COMPILED = {"generate": "none", "static-compile": "decode-forward"}
PRECISIONS = ("fp32", "fp16", "bf16")


def prompt_ids(tok, count, length, vocab, seed=0):
    """Token ids of `count` prompts: PROMPTS (cycled) chat-templated by `tok`, or seeded ids of `length`."""
    if tok is None:
        rng = np.random.default_rng(seed)
        return [rng.integers(3, vocab, size=length).tolist() for _ in range(count)]
    texts = [PROMPTS[i % len(PROMPTS)] for i in range(count)]
    if tok.chat_template:
        return [list(tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                             tokenize=True, return_dict=False)) for p in texts]
    return [tok(p).input_ids for p in texts]


def inputs(sizes):
    """(folder, generation prompts, prefill prompts): the user's checkpoint, if given, replaces the seeded one.
    The request is checked before anything is loaded: at least 2 new tokens, a valid checkpoint."""
    if sizes["tokens"] < 2:
        raise UsageError("llm needs at least 2 new tokens to time decoding")
    folder = paths.user_input("llm_checkpoint")
    if folder is None:
        folder = checkpoint.seeded_checkpoint(sizes["model"], sizes.get("layers"))
        tok = None
    else:
        checkpoint.validate_checkpoint(folder)
        tok = checkpoint.tokenizer(folder)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    batch = sizes.get("batch", 1)
    prefill = prompt_ids(None, batch, sizes["prefill_tokens"], vocab, seed=1)
    return folder, prompt_ids(tok, batch, sizes["prompt_tokens"], vocab), prefill


def probe(target):
    """Unavailable if the device cannot compute in the run's dtype (e.g. bfloat16 on an old GPU)."""
    try:
        implementation("llm", target.framework).probe(target)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise Unavailable(f"{target.framework} {target.dtype_name} on {target.device}: {exc}") from None


class Runner:
    """One step = the prefill forward, then one generation call over the batch; see the module docstring."""

    def __init__(self, target, generator, path, prompts, prefill_prompts, tokens):
        self.target, self.generator, self.path = target, generator, path
        self.prompts, self.prefill_prompts, self.tokens = prompts, prefill_prompts, tokens
        self.outputs, self.compute_dtype = [], None
        self.meter = meter(target)

    def prefill(self, prompts):
        """Logits (framework array) of one synchronised forward over equal-length prompts."""
        logits = self.generator.forward(prompts)
        self.compute_dtype = self.target.fw.dtype_name(logits)
        return logits

    def generate(self, stamps, logits=None):
        """Greedy tokens of every prompt; `logits`, if given, receives each step's logits [batch, vocab] (the
        checks; mlx-lm yields log-probabilities, the logits less their log-normaliser)."""
        self.outputs = self.generator.generate(self.prompts, self.tokens, stamps, logits)
        counts = sorted({len(o) for o in self.outputs})
        if len(stamps) != self.tokens or counts != [self.tokens]:
            raise RuntimeError(f"{self.target.framework} produced {counts} tokens in {len(stamps)} steps, "
                               f"not {self.tokens}")
        return self.outputs

    def step(self):
        batch = len(self.prompts)
        self.generator.synchronize()
        start = time.perf_counter()
        self.prefill(self.prefill_prompts)  # synchronised; its logits are freed before generation
        prefill = time.perf_counter() - start
        self.target.reset_peak_memory()
        stamps = []
        with self.meter.reading() as energy:  # the counter is read outside the timed span
            start = time.perf_counter()
            self.generate(stamps)
        return {"prefill_ms_per_token": 1e3 * prefill / (batch * len(self.prefill_prompts[0])),
                "ttft_ms": 1e3 * (stamps[0] - start),
                "decode_ms_per_token": 1e3 * (stamps[-1] - stamps[0]) / ((self.tokens - 1) * batch),
                "peak_memory_bytes": self.target.peak_memory(),
                "energy_j_per_token": energy.per(self.tokens * batch)}

    def ran(self):
        """Read back after a step: parameter dtypes, logits dtype, what the library compiled, the work done."""
        return {"weights_dtype": "/".join(sorted(self.generator.weights_dtypes())),
                "compute_dtype": self.compute_dtype, "state_dtype": None, "compiled": self.generator.compiled(),
                "path": self.path, "batch": len(self.outputs), "new_tokens": sorted({len(o) for o in self.outputs})}


def generation_path(framework, path):
    """The generation path `framework` runs in a combination of `path`: that path where its library has it,
    else its own `generate`, measured beside the other framework's `path`."""
    return path if framework in PATHS[path] else "generate"


def unavailable(target, sizes):
    """Why this combination is n/a here: one the preset leaves out (for both frameworks: MLX's static-compile
    rows are measured beside PyTorch's), or an older library release."""
    path, batch = sizes.get("path", "generate"), sizes.get("batch", 1)
    here = on_device(sizes, target.device)  # a CPU's narrower batches, precisions and static_compile
    where = f"at this preset on the {target.device.upper()}"
    if path == "static-compile" and not here["static_compile"]:
        return (f"static-cache torch.compile is left out {where}: compiling takes longer than its budget on a CPU "
                "(37 s for the toy model)")
    if target.precision not in here["precisions"]:
        return f"{target.precision} is not measured {where} (measured: {', '.join(here['precisions'])})"
    if batch not in here["batches"]:
        return f"batch {batch} is not measured {where} (measured: {', '.join(map(str, here['batches']))})"
    return implementation("llm", target.framework).lacks(target, batch)  # an older library release


def expected(target, sizes):
    path = generation_path(target.framework, sizes.get("path", "generate"))
    return {"weights_dtype": target.weights_dtype_name, "compute_dtype": target.dtype_name, "state_dtype": None,
            "compiled": COMPILED[path], "path": path, "batch": sizes.get("batch", 1), "new_tokens": [sizes["tokens"]]}


def build(target, sizes):
    path = generation_path(target.framework, sizes.get("path", "generate"))
    folder, prompts, prefill = inputs(sizes)
    probe(target)
    generator = implementation("llm", target.framework).Generator(target, folder, path)
    return Runner(target, generator, path, prompts, prefill, sizes["tokens"])


def teacher_forced(runner, tokens):
    """Logits [row, G, vocab] (float32 numpy) predicting `tokens` after each of the runner's prompts, from one
    eager forward over the prompt and the tokens: every position's context is the same in both frameworks."""
    return np.stack([runner.generator.numpy(runner.prefill([p + t[:-1]]))[0, len(p) - 1:]
                     for p, t in zip(runner.prompts, tokens)])


def observe(runner, sizes, earlier):
    """The runner's work once, on its own generator and prompts: {"prefill": the prefill forward's logits,
    "tokens": its greedy tokens, "logits": each generation step's logits (PyTorch; None for MLX), "forced":
    logits teacher-forced on MLX's tokens (its own for MLX, `earlier["mlx"]`'s for PyTorch), "ran": what
    ran, "asked": what `expected` says for these sizes}. Without an MLX observation (MLX n/a), "forced" is
    None: no comparison follows."""
    prefill = runner.generator.numpy(runner.prefill(runner.prefill_prompts))
    steps = [] if runner.target.framework == "torch" else None
    tokens = runner.generate([], steps)
    ran = runner.ran()
    mlx = {"tokens": tokens} if runner.target.framework == "mlx" else earlier.get("mlx")
    return {"prefill": prefill, "tokens": tokens, "logits": steps, "ran": ran, "asked": expected(runner.target, sizes),
            "forced": None if mlx is None else teacher_forced(runner, mlx["tokens"])}


def ran_as_asked(result, framework, observation, batch):
    """A line saying whether the generator ran what was asked (dtypes, path, compile, batch, tokens): what
    differs, else what ran."""
    ran, asked = observation["ran"], observation["asked"]
    wrong = [f"{k} asked {v!r}, ran {ran.get(k)!r}" for k, v in asked.items() if ran.get(k) != v]
    result.require(f"{framework} ran what was asked, batch {batch}", not wrong,
                   "; ".join(wrong) or ", ".join(f"{k} {v}" for k, v in ran.items()))


def compare(result, observed, sizes, device):
    """What each framework ran against what was asked (MLX's `generate` on static-compile); the prefill
    logits; the generation, as `compare_generation` says."""
    path, batch = sizes.get("path", "generate"), sizes.get("batch", 1)
    for framework, seen in observed.items():
        ran_as_asked(result, framework, seen, batch)
    mlx, torch = observed["mlx"], observed["torch"]
    result.output(f"prefill logits, batch {batch}", mlx["prefill"], torch["prefill"])
    compare_generation(result, mlx, torch, path)


def compare_generation(result, mlx, torch, path):
    """Greedy tokens and logits of MLX's generation against PyTorch's on `path`.

    Logits: both models teacher-forced on the prompts and MLX's tokens; PyTorch's own generation logits
    (its path's numerics: compiled decoding on static-compile) against MLX's teacher-forced ones while
    the contexts agree. Tokens: at fp32 every one identical. At fp16/bf16 greedy decoding is a chain of
    argmaxes, and where two candidates' logits lie within the precision's rounding either framework may
    legitimately pick either; every later token then follows a different context. So tokens must agree up
    to the first divergence, and that divergence must be a near tie: the two tokens' logits in PyTorch's
    generation within 2 x the output tolerance x that step's logit spread (standard deviation)."""
    mlx_tokens, torch_tokens = mlx["tokens"], torch["tokens"]
    result.output(f"teacher-forced logits, batch {len(mlx_tokens)}", mlx["forced"], torch["forced"])
    generated = np.stack(torch["logits"], axis=1)  # [batch, G, vocab]
    tokens = len(torch_tokens[0])
    agree = [next((i for i, (a, b) in enumerate(zip(m, t)) if a != b), tokens)
             for m, t in zip(mlx_tokens, torch_tokens)]
    same_context = tuple(np.array([(row, step) for row, first in enumerate(agree)
                                   for step in range(min(first + 1, tokens))]).T)
    result.output(f"PyTorch {path} generation logits vs MLX teacher-forced, while the contexts agree",
                  mlx["forced"][same_context], generated[same_context])
    what = f"{tokens} greedy tokens x {len(mlx_tokens)} prompts"
    if result.precision == "fp32":
        result.equal(what, mlx_tokens, torch_tokens)
        return
    limit = 2 * TOLERANCES["output"][result.precision][0]
    margins = [abs(generated[row, first, mlx_tokens[row][first]] - generated[row, first, torch_tokens[row][first]])
               / generated[row, first].std() for row, first in enumerate(agree) if first < tokens]
    result.record(f"{what}: identical up to a near tie", max(margins, default=0.0) <= limit,
                  max(margins, default=0.0), limit,
                  f"identical for the first {min(agree)} of {tokens} steps; value: the widest divergence's logit "
                  "margin / that step's logit spread")


def check(preset="tiny", device="cpu"):
    """On `device`, for every precision, path and batch the preset publishes: the prefill forward's logits,
    teacher-forced and generation logits and the greedy tokens, MLX's generation against each PyTorch path,
    and what each framework ran against what was asked."""
    base = preset_sizes("llm", preset)
    result = CheckResult("llm", device)
    for precision in PRECISIONS:
        for batch in on_device(base, device)["batches"]:
            for path in PATHS:
                sizes = {**base, "batch": batch, "path": path}
                with result.combination(path_label(path, False), precision, f"batch {batch}: ",
                                        case_of(sizes, CHECK_CASE)):
                    reason = unavailable(Target("torch", device, precision), sizes) or \
                        unavailable(Target("mlx", device, precision), sizes)
                    if reason:
                        raise Unavailable(reason)
                    cross_check("llm", result, sizes, device, precision)
    return result
