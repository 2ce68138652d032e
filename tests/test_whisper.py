"""Whisper workload: checkpoint conversion, fixed-length decoding, paths and dtypes, audio input,
cross-framework check, the evaluation tool and the LibriSpeech fetch."""
import io
import tarfile
import wave

import numpy as np
import pytest
import torch

from benchmarks.bench_whisper import WhisperClips, WhisperDecoder, WhisperPhases
from mlxvspt.measure import asvbench
from mlxvspt import cli
from mlxvspt.measure.check import CheckResult
from mlxvspt.measure.devices import Target
from mlxvspt.errors import UsageError
from mlxvspt.measure.presets import sizes
from mlxvspt.workloads.whisper import audio, checkpoint, evaluate, spec
from mlxvspt.workloads.whisper import mlx as wmlx
from mlxvspt.workloads.whisper import torch as wtorch

TOY = {"model": "toy", "clips": 1, "tokens": 5}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """One cache per module (the seeded toy checkpoint is built once), no user inputs leaking in."""
    monkeypatch.setenv("MLXVSPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("MLXVSPT_PRESET", "tiny")
    for variable in ("MLXVSPT_AUDIO", "MLXVSPT_WHISPER_CHECKPOINT"):
        monkeypatch.delenv(variable, raising=False)


def write_wav(path, samples, rate=16000, channels=1):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())


def test_conversion_sets_every_parameter():
    dims, arrays = checkpoint.seeded("toy")
    target = Target("mlx", "cpu").activate()
    model = wmlx.Whisper(target, dims, arrays, "library-default").model
    conv = np.array(model.encoder.conv2.weight)
    np.testing.assert_array_equal(conv, arrays["encoder.conv2.weight"].swapaxes(1, 2))
    np.testing.assert_array_equal(np.array(model.decoder.blocks[1].mlp2.bias), arrays["decoder.blocks.1.mlp.2.bias"])


@pytest.mark.parametrize("framework", ["mlx", "torch"])
@pytest.mark.parametrize("edit", ["missing", "renamed", "reshaped"])
def test_bad_key_is_caught(framework, edit):
    dims, arrays = checkpoint.seeded("toy")
    value = arrays.pop("decoder.blocks.0.cross_attn.value.weight")
    if edit == "renamed":
        arrays["decoder.blocks.0.cross_attn.values.weight"] = value
    elif edit == "reshaped":
        arrays["decoder.blocks.0.cross_attn.value.weight"] = value[:, :-1]
    module = {"mlx": wmlx, "torch": wtorch}[framework]
    with pytest.raises(UsageError, match="cross_attn.value"):
        module.Whisper(Target(framework, "cpu").activate(), dims, arrays, "library-default")


@pytest.mark.parametrize("framework", ["mlx", "torch"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fixed_length_decoding_gives_exactly_n_tokens(framework, precision):
    runner = spec.build(Target(framework, "cpu", precision).activate(), {**TOY, "phase": "decoder"})
    figures = runner.step()
    assert [len(r.tokens) for r in runner.results] == [TOY["tokens"]]
    assert figures["decode_ms_per_token"] > 0 and figures["peak_memory_bytes"] > 0


def test_clip_set_runs_every_window():
    runner = spec.build(Target("torch", "cpu").activate(), {**TOY, "clips": 3})
    figures = runner.step()
    assert figures["real_time_factor"] > 0 and figures["peak_memory_bytes"] > 0
    assert len(runner.results) == len(runner.windows) == 4  # the third synthetic clip is 35 s long
    assert set(runner.phases) == {"mel", "encoder", "decoder"}


COMBINATIONS = [("fp32", "library-default"), ("fp16", "library-default"), ("fp16", "fp16-weights")]


@pytest.mark.parametrize("framework", ["mlx", "torch"])
@pytest.mark.parametrize("precision,path", COMBINATIONS)
@pytest.mark.parametrize("phase", spec.PHASES + ("clips",))
def test_what_ran_is_what_was_asked(framework, precision, path, phase):
    """The dtype plumbing test: ran(), read from the model and its outputs, equals expected()."""
    target = Target(framework, "cpu", precision)
    chosen = {**sizes("whisper", "tiny"), **TOY, "path": path, "phase": phase}
    if spec.unavailable(target, chosen):
        pytest.skip(spec.unavailable(target, chosen))
    runner = spec.build(target.activate(), chosen)
    runner.step()
    ran = runner.ran()
    assert {k: ran[k] for k in spec.expected(target, chosen)} == spec.expected(target, chosen)


def test_paths_differ_in_pytorch_weights_only():
    """fp16: openai-whisper's default keeps float32 weights; fp16-weights holds float16 ones (LayerNorm's
    float32); mlx-whisper holds float16 weights on both paths."""
    held = {}
    for framework in ("mlx", "torch"):
        for path in spec.PATHS:
            runner = spec.build(Target(framework, "cpu", "fp16").activate(), {**TOY, "path": path, "phase": "encoder"})
            runner.step()
            held[framework, path] = (runner.ran()["weights_dtype"], runner.ran()["compute_dtype"])
    assert held == {("mlx", "library-default"): ("float16", "float16"), ("mlx", "fp16-weights"): ("float16", "float16"),
                    ("torch", "library-default"): ("float32", "float16"),
                    ("torch", "fp16-weights"): ("float16/float32", "float16")}


def test_the_benchmark_process_verifies_what_ran():
    runner, record = asvbench.prepared("whisper", "torch", "cpu", "fp16", "step", path="fp16-weights", phase="decoder",
                                      warmup_cap_steps=2)
    assert record["ran"]["weights_dtype"] == "float16/float32" and record["path"] == "fp16-weights"
    with pytest.raises(RuntimeError, match="weights_dtype asked 'float32', ran 'float16/float32'"):
        asvbench.verify("whisper", Target("torch", "cpu", "fp16"), {"path": "library-default"}, record["ran"])


def test_track_figures_have_five_samples_from_one_measurement(monkeypatch, tmp_path):
    """MeasuredOnce: each track_ figure is asv's timing-like {"samples", "number"} of 5 steps, and within a
    run the methods of a class read the same measurement."""
    monkeypatch.setenv("MLXVSPT_RUN_FOLDER", str(tmp_path))
    monkeypatch.setattr(asvbench, "WARMUP_CAP_STEPS", 2)  # steady state is asvbench's concern: keep this short
    params = ("torch", "cpu", "fp32", "library-default")
    clips, decoder = WhisperClips(), WhisperDecoder()
    clips.setup(*params)
    decoder.setup(*params)
    rtf, peak = clips.track_real_time_factor(*params), clips.track_peak_memory(*params)
    decode = decoder.track_decode_ms_per_token(*params)
    for figure in (rtf, peak, decode):
        assert figure["number"] == 1 and len(figure["samples"]) == 5 and min(figure["samples"]) > 0
    kept = [p.name for p in tmp_path.glob("*/steps/whisper-*.json")]
    assert len([n for n in kept if "-torch-" in n]) == 2  # clips and decoder: two measurements, not three
    assert len(kept) == 3  # the decoder alternated with MLX (alternate_on includes the CPU): MLX's samples kept


def test_cross_framework_check_passes():
    result = spec.check("tiny")
    assert result.passed, "\n".join(result.lines)
    compared = {(line.path, line.precision) for line in result.entries if line.what != "n/a"}
    assert compared == {(path, precision) for precision, path in COMBINATIONS}
    assert [line.precision for line in result.entries if line.what == "n/a"] == ["fp32"]  # fp16-weights at fp32


@pytest.mark.parametrize("wrong", ["weights", "audio"])
def test_cross_framework_check_fails_on_a_wrong_input(wrong, monkeypatch):
    """One framework given perturbed encoder weights (or a louder window): the check must FAIL (fp32 only,
    to keep it short)."""
    monkeypatch.setattr(spec, "PRECISIONS", ("fp32",))
    if wrong == "weights":
        original = wtorch.Whisper.__init__

        def perturbed(self, target, dims, arrays, path):
            arrays = dict(arrays, **{"encoder.blocks.0.mlp.0.weight": 1.1 * arrays["encoder.blocks.0.mlp.0.weight"]})
            original(self, target, dims, arrays, path)

        monkeypatch.setattr(wtorch.Whisper, "__init__", perturbed)
    else:
        original = wtorch.Whisper.mel
        monkeypatch.setattr(wtorch.Whisper, "mel", lambda self, window: original(self, 1.5 * window))
    result = spec.check("tiny")
    failed = {line.what for line in result.entries if not line.ok}
    assert not result.passed
    assert ("encoder output" in failed) if wrong == "weights" else ("log-mel of one 30-s window" in failed)


@pytest.mark.parametrize("precision,path", COMBINATIONS)
def test_observations_of_the_timed_builds_agree_and_a_changed_token_fails(precision, path):
    """observe on runners built as the benchmarks build them (phase clips), then compare; the runners still
    step afterwards. A single phase is not what the check compares: None."""
    chosen = {**sizes("whisper", "tiny"), "path": path, "phase": "clips"}
    observed = {}
    for framework in ("mlx", "torch"):
        runner = spec.build(Target(framework, "cpu", precision).activate(), chosen)
        observed[framework] = spec.observe(runner, chosen, dict(observed))
        assert runner.step()["real_time_factor"] > 0
        single = spec.build(Target(framework, "cpu", precision).activate(), {**chosen, "phase": "decoder"})
        assert spec.observe(single, {**chosen, "phase": "decoder"}, {}) is None
    result = CheckResult("whisper").at(path, precision)
    spec.compare(result, observed, chosen, "cpu")
    assert result.passed and len(result.entries) == 3, result.lines
    tokens = list(observed["torch"]["tokens"])
    tokens[-1] += 1
    result = CheckResult("whisper").at(path, precision)
    spec.compare(result, {**observed, "torch": {**observed["torch"], "tokens": tokens}}, chosen, "cpu")
    assert [line.what for line in result.entries if not line.ok] == [f"{chosen['tokens']} greedy tokens"]


def test_unavailable_combinations_say_why():
    small, tiny = sizes("whisper", "small"), sizes("whisper", "tiny")
    assert "tiny preset only" in spec.unavailable(Target("torch", "cpu", "fp16"), small)
    assert spec.unavailable(Target("torch", "cpu", "fp16"), tiny) is None
    assert "same run" in spec.unavailable(Target("mlx", "cpu", "fp32"), {**tiny, "path": "fp16-weights"})
    mel = {**tiny, "path": "fp16-weights", "phase": "mel"}
    assert "no weights" in spec.unavailable(Target("mlx", "cpu", "fp16"), mel)
    assert "not bf16" in spec.unavailable(Target("torch", "cpu", "bf16"), tiny)
    for framework in ("mlx", "torch"):
        if Target(framework, "cpu").fw.gpu_backend() is None:  # the device's own reason, before any probe
            assert "no GPU" in spec.unavailable(Target(framework, "gpu", "fp16"), tiny)
    with pytest.raises(NotImplementedError, match="same run"):
        WhisperPhases().setup("torch", "cpu", "fp32", "fp16-weights", "encoder")


def test_wav_is_read_mixed_and_resampled(tmp_path):
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    write_wav(tmp_path / "a.wav", np.repeat(tone, 2), rate=8000, channels=2)
    clip = audio.read(tmp_path / "a.wav")
    assert clip.dtype == np.float32 and len(clip) == 16000
    assert abs(np.max(np.abs(clip)) - 0.5) < 0.01


def test_bad_files_are_named_and_skipped(tmp_path, monkeypatch):
    write_wav(tmp_path / "good.wav", np.zeros(1600))
    (tmp_path / "notes.wav").write_text("not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(UsageError, match="notes.wav"):
        audio.read(tmp_path / "notes.wav")
    with pytest.warns(UserWarning) as caught:
        clips = audio.from_folder(tmp_path)
    assert list(clips) == ["good"]
    messages = " ".join(str(w.message) for w in caught)
    assert "empty.wav" in messages and "notes.wav" in messages
    (tmp_path / "c.flac").write_bytes(b"fLaC")
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="c.flac.*ffmpeg"):
        audio.from_folder(tmp_path)


def test_user_audio_folder_is_used(tmp_path, monkeypatch):
    write_wav(tmp_path / "one.wav", 0.1 * np.sin(np.arange(32000) / 5.0))
    monkeypatch.setenv("MLXVSPT_AUDIO", str(tmp_path))
    runner = spec.build(Target("torch", "cpu").activate(), TOY)
    assert runner.audio_seconds == 2.0 and len(runner.windows) == 1


def test_openai_checkpoint(tmp_path):
    dims, arrays = checkpoint.seeded("toy")
    state = {k: torch.from_numpy(v).half() for k, v in arrays.items()}
    torch.save({"dims": dims, "model_state_dict": state}, tmp_path / "toy.pt")
    got_dims, got = checkpoint.load(tmp_path / "toy.pt")
    assert got_dims == dims and got["decoder.ln.bias"].dtype == np.float32
    torch.save({"dims": {**dims, "n_text_state": 32}, "model_state_dict": state}, tmp_path / "wrong.pt")
    with pytest.raises(UsageError, match="wrong shape"):
        checkpoint.load(tmp_path / "wrong.pt")
    torch.save({"dims": dims, "model": torch.nn.Linear(2, 2)}, tmp_path / "code.pt")
    with pytest.raises(UsageError, match="weights_only"):
        checkpoint.load(tmp_path / "code.pt")


def test_hugging_face_folder_matches_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    dims = checkpoint.MODELS["toy"]
    config = transformers.WhisperConfig(**{hf: dims[ours] for ours, hf in checkpoint.HF_DIMS.items()},
                                        encoder_ffn_dim=4 * dims["n_audio_state"],
                                        decoder_ffn_dim=4 * dims["n_text_state"])
    torch.manual_seed(0)
    hf = transformers.WhisperForConditionalGeneration(config).eval()
    hf.save_pretrained(tmp_path)
    checkpoint.validate(tmp_path)  # what `mlxvspt run` checks before anything runs: headers only
    got_dims, arrays = checkpoint.load(tmp_path)
    ours = wtorch.Whisper(Target("torch", "cpu").activate(), got_dims, arrays, "library-default")
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        want = hf.model.encoder(mel).last_hidden_state
    np.testing.assert_allclose(ours.numpy(ours.encode(mel)), want.numpy(), atol=1e-4)


def test_word_error_rate():
    assert audio.word_error_rate(["the cat sat"], ["THE CAT SAT"]) == 0
    assert audio.word_error_rate(["the cat", "a b c d"], ["the cat sat", "a x c d"]) == pytest.approx(2 / 7)


def test_natural_transcripts_and_word_error_rate(tmp_path, monkeypatch, capsys):
    dims, arrays = checkpoint.seeded("toy")
    torch.save({"dims": dims, "model_state_dict": {k: torch.from_numpy(v) for k, v in arrays.items()}},
               tmp_path / "toy.pt")
    (tmp_path / "clips").mkdir()
    write_wav(tmp_path / "clips" / "one.wav", 0.1 * np.sin(np.arange(16000) / 3.0))
    (tmp_path / "clips" / "one.txt").write_text("HELLO WORLD")
    monkeypatch.setenv("MLXVSPT_WHISPER_CHECKPOINT", str(tmp_path / "toy.pt"))
    monkeypatch.setenv("MLXVSPT_AUDIO", str(tmp_path / "clips"))
    natural = spec.natural_options
    monkeypatch.setattr(spec, "natural_options", lambda: {**natural(), "sample_len": 4})  # toy: rarely stops
    rows, wer = evaluate.evaluate("torch")
    assert [(name, ref) for name, _, ref in rows] == [("one", "HELLO WORLD")]
    assert wer == audio.word_error_rate([rows[0][1]], ["HELLO WORLD"])
    assert evaluate.main(["--precision", "bf16"]) == 2  # bad input: one line, exit 2, nothing run
    assert capsys.readouterr().err.count("\n") == 1


def librispeech_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_fetch_librispeech_unpacks_and_prints_the_audio_flag(tmp_path, monkeypatch, capsys):
    archive = tmp_path / "dl" / "test-clean.tar.gz"
    archive.parent.mkdir()
    librispeech_archive(archive, {"LibriSpeech/test-clean/1/2/1-2.trans.txt": b"1-2-0000 HELLO\n",
                                  "LibriSpeech/test-clean/1/2/1-2-0000.flac": b"fLaC"})
    monkeypatch.setattr(audio, "fetch", lambda url, digest: archive)
    assert cli.main(["fetch", "librispeech"]) == 0
    flag, folder = capsys.readouterr().out.split()[:2]
    assert flag == "--audio" and audio.references(folder) == {"1-2-0000": "HELLO"}
    assert not (archive.parent / "librispeech" / "unpacking").exists()
    (archive.parent / "librispeech" / "test-clean").rename(tmp_path / "moved")
    librispeech_archive(archive, {"../outside.txt": b"x"})
    assert cli.main(["fetch", "librispeech"]) == 2  # a member outside the destination: refused, one line
    assert "cannot unpack" in capsys.readouterr().err and not (archive.parent / "outside.txt").exists()
