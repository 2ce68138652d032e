"""Quantized TinyLlama generation: mlx-lm's weight-only quantization against torchao's, from the
same safetensors as llm (seeded, or the user's --llm-checkpoint), each library on its fast path.

A combination's `path` is its scheme. Every Linear layer's weight (attention, MLP, lm_head) is quantized
round-to-nearest; the token embedding and the norms stay in the run's precision, as torchao's weight-only
configs leave them (mlx-lm's own conversion would quantize the embedding too); activations are in the run's
precision:
- int4: 4 bits in groups of GROUP_SIZE (64) inputs. MLX: mlx-lm's affine quantization (what
  `mlx_lm.convert -q` runs), packed in uint32 with a scale and a bias per group. PyTorch: torchao's
  Int4WeightOnlyConfig packed for tinygemm's `_weight_int4pack_mm` (Int4TilePackedTo4dTensor): CUDA with
  compute capability 8.0 or more, bfloat16 only; it pads each weight's inputs to a multiple of 1024
  (TinyLlama's MLP down projection: 5632 to 6144), which what ran discloses (`padded_inputs`).
- int8: 8 bits. MLX: the same affine quantization in groups of 64. PyTorch: torchao's Int8WeightOnlyConfig
  per output channel (PerRow, one scale a row): its fast path; its per-group form dequantizes every weight
  on every call. The bit width is the same, the grouping each library's own.
Generation, each library's fast path: mlx-lm's (llm's "generate" path); transformers' generate with a static
cache, for which it torch.compiles the decoding forward (llm's "static-compile"), as gpt-fast runs torchao.
Where a preset leaves compiling out on a device (`static_compile`), PyTorch's rows are n/a: uncompiled,
torchao's int8 converts each weight to float on every call, slower than the float model.

Figures: llm's (`Runner.step`: prefill and decode ms/token, time to first token, peak memory, energy).

Quality instead of equal tokens (the two libraries round differently, so greedy tokens may differ): the
check measures perplexity (perplexity.py: the same tokens, windows and formula in both frameworks) of each
framework's quantized model and of its own unquantized model at the same precision. The two unquantized
perplexities must agree within the loss tolerance (the same computation on the same weights), and each
quantized one must stay within check.PERPLEXITY_MARGIN of its framework's unquantized one.

Perplexity is scored by each framework's forward over a window into a fresh cache (`Generator.forward`:
mlx-lm's model call, transformers' eager forward), not by the generation that is timed, which runs other
kernels on the same weights: mlx-lm's generate_step decodes one token a step (quantized matrix-vector
products, not the window's matrix products); transformers' static-cache generate decodes through the
forward it torch.compiled (inductor around torchao's tensors), a one-token step into a static cache kept
on a private attribute, no way to score a window. So the record proves the two paths agree: the generation
call, run once as it is timed, keeps each step's logits (transformers' `output_logits`; mlx-lm's
log-probabilities, its logits less their log-normaliser), and the scored forward, teacher-forced on the
prompts and those same tokens, must give the same logits, centred over the vocabulary (all that softmax,
so perplexity, depends on), within the output tolerance of the precision. Where they disagree the
perplexity does not stand for what was timed and the row gets no verdict: a row gets one only where every
line of its check passed.
"""
import gc
import hashlib
import json

import numpy as np

from ... import paths
from ...errors import Unavailable
from ...measure.check import PERPLEXITY_MARGIN, CheckResult, case_of
from ...measure.devices import Target
from ...measure.presets import on_device, sizes as preset_sizes
from .. import cross_check, implementation
from ..llm import checkpoint, spec as llm
from . import perplexity

# Host-bound classes (results.Row.host_bound says what that means); between two one-H100 machines: llm's
# generation rows moved up to 71%; these run the same generation loops (not yet measured twice).
HOST_BOUND = ("QuantizedGeneration",)
CHECK_CASE = ("batch",)  # each batch is checked on its own (check.case_of)

GROUP_SIZE = 64  # mlx-lm's default group; tinygemm's int4 kernel takes 32, 64, 128 or 256


def generation_path(framework, sizes, device):
    """llm's static-compile path (mlx-lm's generate for MLX), or its eager generate where the preset does not
    compile on this device (built by the tests only: `unavailable` makes PyTorch's rows n/a there)."""
    compiles = on_device(sizes, device)["static_compile"]
    return llm.generation_path(framework, "static-compile" if compiles else "generate")


def one(values):
    """The one value every quantized layer reads back, or all of them joined (no request asks that: it fails)."""
    values = sorted(set(values), key=str)
    return values[0] if len(values) == 1 else "/".join(map(str, values))


def model_config(folder):
    return json.loads((folder / "config.json").read_text())


def linear_layers(sizes):
    """How many Linear layers the model quantized has (7 a decoder layer, lm_head unless tied)."""
    folder = paths.user_input("llm_checkpoint")
    cfg = model_config(folder) if folder else checkpoint.config(sizes["model"], sizes.get("layers"))
    return 7 * cfg["num_hidden_layers"] + (0 if cfg.get("tie_word_embeddings") else 1)


def unavailable(target, sizes):
    """Why this combination is n/a here: a scheme, precision or batch the preset leaves out on the device, a
    quantization or kernel the installed library lacks, or PyTorch's compile left out on the device."""
    scheme, batch = sizes["path"], sizes.get("batch", 1)
    here = on_device(sizes, target.device)
    where = f"at this preset on the {target.device.upper()}"
    for kind, values, value in (("scheme", "schemes", scheme), ("precision", "precisions", target.precision),
                                ("batch", "batches", batch)):
        if value not in here[values]:
            return f"{kind} {value} is not measured {where} (measured: {', '.join(map(str, here[values])) or 'none'})"
    lacks = implementation("llm_quant", target.framework).lacks(target, scheme) or \
        implementation("llm", target.framework).lacks(target, batch)
    if lacks:
        return lacks
    if target.framework == "torch" and not here["static_compile"]:
        return (f"torchao's weight-only {scheme} is a fast path only under torch.compile (uncompiled it converts "
                f"each weight to float on every call), and compiling is left out {where}")
    return None


def expected(target, sizes):
    path = generation_path(target.framework, sizes, target.device)
    layout = implementation("llm_quant", target.framework).LAYOUT[sizes["path"]]
    return {"weights_dtype": target.weights_dtype_name, "compute_dtype": target.dtype_name, "state_dtype": None,
            "compiled": llm.COMPILED[path], "path": path, "batch": sizes.get("batch", 1),
            "new_tokens": [sizes["tokens"]], "quantized": {"layers": linear_layers(sizes), "float_linear": 0, **layout}}


class Runner(llm.Runner):
    """llm's step and figures on a quantized model; what ran adds the quantized weights as read back (held to
    `expected`) and, disclosed beside them, where the packing padded their inputs."""

    def __init__(self, target, generator, path, prompts, prefill_prompts, tokens, folder):
        super().__init__(target, generator, path, prompts, prefill_prompts, tokens)
        self.folder = folder

    def ran(self):
        return {**super().ran(), "quantized": self.generator.quantized(),
                "padded_inputs": self.generator.padded_inputs()}


def build(target, sizes):
    folder, prompts, prefill = llm.inputs(sizes)
    checkpoint.validate_groups(model_config(folder), GROUP_SIZE, f"llm_quant's checkpoint {folder}")
    llm.probe(target)
    path = generation_path(target.framework, sizes, target.device)
    generator = implementation("llm_quant", target.framework).Generator(target, folder, path, sizes["path"])
    return Runner(target, generator, path, prompts, prefill, sizes["tokens"], folder)


def text_windows(sizes, folder):
    """(windows [count, length] of token ids, where the text came from): the same for both frameworks."""
    length, count = sizes["ppl_window"], sizes["ppl_windows"]
    ids, source = perplexity.tokens(paths.user_input("ptb"), folder, model_config(folder)["vocab_size"],
                                    length * count)
    return perplexity.windows(ids, length, count), source


def of_generator(generator, windows):
    """Perplexity of a generator's model (llm's forward into a fresh cache, logits to float32 numpy)."""
    return perplexity.perplexity(lambda w: generator.numpy(generator.forward([w.tolist()]))[0], windows)


_unquantized = {}


def unquantized(target, folder, windows):
    """Perplexity of the framework's unquantized model (llm's generator) at the run's precision, on the same
    windows; computed once a process per target, weights and windows (every scheme and batch shares it)."""
    key = (target, str(folder), hashlib.sha1(windows.tobytes()).hexdigest())
    if key not in _unquantized:
        generator = implementation("llm", target.framework).Generator(target, folder, "generate")
        _unquantized[key] = of_generator(generator, windows)
        del generator
        gc.collect()
        target.release_memory()
    return _unquantized[key]


# Seeded random weights give perplexities near the vocabulary size that quantization hardly moves: MLX's
# 2-bit model of the 4-layer TinyLlama read 12% *below* its unquantized one, its int4 2.8% above; so no
# quality verdict rests on them.
SEEDED = ("quality is judged on a real checkpoint only (--llm-checkpoint): on seeded random weights "
          "perplexity is near the vocabulary size and quantization, even to 2 bits, hardly moves it")


def seeded():
    """Whether this run's models are seeded random weights (no --llm-checkpoint)."""
    return paths.user_input("llm_checkpoint") is None


def observe(runner, sizes, earlier):
    """The runner's work once (its prefill forward and generation), what ran read back ("ran", held to
    "asked"), and, on a real checkpoint, its quantized model's perplexity beside its framework's unquantized
    model's ("reference"), on the same windows ("scored" tokens of "text"), and the generation's logits
    ("generated") beside the scored forward's on the same tokens ("forced"): both [batch, G, vocab]."""
    runner.prefill(runner.prefill_prompts)
    steps = []
    tokens = runner.generate([], steps)
    seen = {"ran": runner.ran(), "asked": expected(runner.target, sizes)}
    if seeded():  # compare judges no quality there: the perplexities and the unquantized build are not needed
        return seen
    windows, source = text_windows(sizes, runner.folder)
    return {**seen, "perplexity": of_generator(runner.generator, windows),
            "reference": unquantized(runner.target, runner.folder, windows),
            "scored": windows.shape[0] * (windows.shape[1] - 1), "text": source,
            "generated": np.stack(steps, axis=1), "forced": llm.teacher_forced(runner, tokens)}


def centred(logits):
    """Logits less their mean over the vocabulary: all softmax depends on, the same whether a library yields
    logits (transformers) or log-probabilities (mlx-lm)."""
    logits = np.asarray(logits, np.float64)
    return logits - logits.mean(axis=-1, keepdims=True)


def compare(result, observed, sizes, device):
    """What each framework ran against what was asked; the unquantized perplexities against each other
    (the same computation); each framework's timed generation against the forward its perplexity scores;
    each quantized perplexity against its own framework's unquantized one, in either direction. On seeded
    weights the combination is n/a (SEEDED): its rows carry no verdict."""
    if seeded():
        result.unavailable(SEEDED)
        return
    scheme, batch = sizes["path"], sizes.get("batch", 1)
    for framework, seen in observed.items():
        llm.ran_as_asked(result, framework, seen, batch)
    mlx, torch = observed["mlx"], observed["torch"]
    where = f" ({mlx['scored']} tokens of {mlx['text']})"
    result.loss("unquantized perplexity: the same formula, tokens and weights" + where, mlx["reference"],
                torch["reference"])
    limit, why = PERPLEXITY_MARGIN[scheme]
    for framework, seen in observed.items():
        path = generation_path(framework, sizes, device)
        result.output(f"{framework} {scheme} timed generation's logits ({path}) against the scored forward's on "
                      "its tokens, centred", centred(seen["generated"]), centred(seen["forced"]))
        rise = seen["perplexity"] / seen["reference"] - 1
        ok = abs(rise) <= limit
        detail = f"{seen['perplexity']:.6g} against {seen['reference']:.6g} unquantized; value: the change"
        result.record(f"{framework} {scheme} perplexity within {limit:.0%} of its unquantized model's", ok,
                      rise, limit, detail if ok else f"{detail}; limit because {why}")


def check(preset="tiny", device="cpu"):
    """On `device`, for every scheme, precision and batch the preset publishes there: what each framework
    ran, its timed generation against the forward it scores, and the perplexities, each framework's
    quantized model against its unquantized one."""
    base = preset_sizes("llm_quant", preset)
    here = on_device(base, device)
    result = CheckResult("llm_quant", device)
    for scheme in here["schemes"]:
        for precision in here["precisions"]:
            for batch in here["batches"]:
                sizes = {**base, "path": scheme, "batch": batch}
                with result.combination(scheme, precision, f"batch {batch}: ", case_of(sizes, CHECK_CASE)):
                    reason = unavailable(Target("torch", device, precision), sizes) or \
                        unavailable(Target("mlx", device, precision), sizes)
                    if reason:
                        raise Unavailable(reason)
                    cross_check("llm_quant", result, sizes, device, precision)
    return result
