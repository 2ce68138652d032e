"""The headline: the rows people ask about first, each framework as its users run it. The report shows them
first (publish/report.py) and `mlxvspt run --headline` measures their combinations alone
(track/plan.py): a GPU point of the whole matrix takes about an hour, the headline's a fraction of it.
"""


def _each(**choices):
    """Candidate parameters, first preferred: _each(precision=("tf32", "fp32"), n="8192") -> [dict, ...]."""
    out = [{}]
    for name, values in choices.items():
        out = [{**o, name: v} for o in out for v in ((values,) if isinstance(values, str) else values)]
    return out


# (title, benchmark, candidate parameters (the first both frameworks ran wins, a GPU before a CPU),
# parameters MLX's cell comes from where its own is n/a): each framework as its users run it, eager and
# compiled, and the LLM once more against PyTorch's fastest documented path, static-compile, where MLX's
# cell is its generate measured beside it (results from before that take MLX's generate row's cell, measured
# in another combination: `not interleaved`). At most 20 rows a machine.
LM, BERT, LLM = "bench_lm_train.LMTrain.time_step", "bench_bert_train.BertTrainStep.time_step", \
    "bench_llm.Generation.track_decode"
HEADLINE = (
    ("Transformer LM training step, seed path, eager, {precision}", LM,
     _each(path="seed", compile="False", precision=("tf32", "fp32")), {}),
    ("Transformer LM training step, best path compiled, {precision}", LM,
     _each(path="best", compile="True", precision=("tf32", "fp32")), {}),
    ("Transformer LM training step, best path compiled, {precision}", LM,
     _each(path="best", compile="True", precision="bf16-mixed"), {}),
    ("Transformer LM training step, best path compiled, {precision}", LM,
     _each(path="best", compile="True", precision="bf16"), {}),
    ("Transformer LM training step, peak memory, {precision}", "bench_lm_train.LMTrainMemory.track_peak_memory",
     _each(path="best", compile="True", precision=("tf32", "fp32")), {}),
    ("BERT pair-classifier training step, eager, {precision}", BERT,
     _each(path="seed", compile="False", precision="fp32"), {}),
    ("BERT pair-classifier training step, best path, {compiled}{precision}", BERT,
     _each(path="best", compile=("True", "False"), precision=("bf16-mixed", "fp32")), {}),
    ("Whisper tiny transcription, real-time factor, {precision}", "bench_whisper.WhisperClips.track_real_time_factor",
     _each(precision="fp32", path="library-default"), {}),
    ("Whisper tiny transcription, real-time factor, fp16 weights", "bench_whisper.WhisperClips.track_real_time_factor",
     _each(precision="fp16", path="fp16-weights"), {}),
    ("TinyLlama decode, batch {batch}, {precision}, vs transformers `generate`", LLM,
     _each(path="generate", batch="1", precision=("fp16", "fp32")), {}),
    ("TinyLlama decode, batch {batch}, {precision}, vs static cache + torch.compile", LLM,
     _each(path="static-compile", batch="1", precision=("fp16", "fp32")), {"path": "generate"}),
    ("TinyLlama decode, batch {batch}, {precision}, vs transformers `generate`", LLM,
     _each(path="generate", batch="8", precision="bf16"), {}),
    ("TinyLlama decode, batch {batch}, {precision}, vs static cache + torch.compile", LLM,
     _each(path="static-compile", batch="8", precision="bf16"), {"path": "generate"}),
    ("TinyLlama prefill, batch {batch}, {precision}", "bench_llm.Generation.track_prefill",
     _each(path="generate", batch=("8", "1"), precision=("bf16", "fp32")), {}),
    ("TinyLlama decode, {scheme} weights, batch {batch}, {precision}, mlx-lm vs torchao",
     "bench_llm_quant.QuantizedGeneration.track_decode", _each(scheme="int4", batch="1", precision="bf16"), {}),
    ("TinyLlama decode, {scheme} weights, batch {batch}, {precision}, mlx-lm vs torchao",
     "bench_llm_quant.QuantizedGeneration.track_decode", _each(scheme="int8", batch="1", precision="bf16"), {}),
    ("Matmul {n}³, {precision}", "bench_matmul.Matmul.time_matmul",
     _each(n="8192", precision="bf16") + _each(n=("1024", "512"), precision="fp32"), {}),
    ("CPU↔GPU switch loop", "bench_switch.Switch.time_loop", [{}], {}),
)


def first_choices(device_values):
    """{benchmark: [params, ...]}: each headline row's first candidate whose every value the device publishes
    (`device_values(name, value)`: whether the preset measures that parameter value on the device; a GPU
    takes the first, a CPU falls back, e.g. to fp32 where it has no tf32)."""
    chosen = {}
    for _, name, candidates, _ in HEADLINE:
        params = next((c for c in candidates if all(device_values(k, v) for k, v in c.items())), None)
        if params is not None:
            chosen.setdefault(name, []).append(params)
    return chosen
