"""Whisper workload: checkpoint conversion, fixed-length decoding, audio input, cross-framework check."""
import wave

import numpy as np
import pytest
import torch

from mlxvspt.devices import Target
from mlxvspt.errors import UsageError
from mlxvspt.workloads.whisper import audio, checkpoint, spec
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
    model = wmlx.Whisper(target, dims, arrays).model
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
        module.Whisper(Target(framework, "cpu").activate(), dims, arrays)


@pytest.mark.parametrize("framework", ["mlx", "torch"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fixed_length_decoding_gives_exactly_n_tokens(framework, precision):
    runner = spec.build(Target(framework, "cpu", precision).activate(), {**TOY, "phase": "decoder"})
    runner.step()
    assert [len(r.tokens) for r in runner.results] == [TOY["tokens"]]
    assert runner.ms_per_token() > 0


def test_clip_set_runs_every_window():
    runner = spec.build(Target("torch", "cpu").activate(), {**TOY, "clips": 3})
    assert runner.real_time_factor() > 0
    assert len(runner.results) == len(runner.windows) == 4  # the third synthetic clip is 35 s long
    assert set(runner.phases) == {"mel", "encoder", "decoder"}


def test_cross_framework_check_passes():
    result = spec.check("tiny")
    assert result.passed, "\n".join(result.lines)


def test_cpu_float16_is_unavailable_outside_tiny():
    assert spec.cpu_fp16_reason("cpu", "fp16", "small")
    assert spec.cpu_fp16_reason("cpu", "fp16", "tiny") is None
    assert spec.cpu_fp16_reason("gpu", "fp16", "small") is None


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
    ours = wtorch.Whisper(Target("torch", "cpu").activate(), got_dims, arrays)
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        want = hf.model.encoder(mel).last_hidden_state
    np.testing.assert_allclose(ours.numpy(ours.encode(mel)), want.numpy(), atol=1e-4)


def test_word_error_rate():
    assert audio.word_error_rate(["the cat sat"], ["THE CAT SAT"]) == 0
    assert audio.word_error_rate(["the cat", "a b c d"], ["the cat sat", "a x c d"]) == pytest.approx(2 / 7)


def test_natural_transcripts_and_word_error_rate(tmp_path, monkeypatch):
    dims, arrays = checkpoint.seeded("toy")
    torch.save({"dims": dims, "model_state_dict": {k: torch.from_numpy(v) for k, v in arrays.items()}},
               tmp_path / "toy.pt")
    (tmp_path / "clips").mkdir()
    write_wav(tmp_path / "clips" / "one.wav", 0.1 * np.sin(np.arange(16000) / 3.0))
    (tmp_path / "clips" / "one.txt").write_text("HELLO WORLD")
    monkeypatch.setenv("MLXVSPT_WHISPER_CHECKPOINT", str(tmp_path / "toy.pt"))
    monkeypatch.setenv("MLXVSPT_AUDIO", str(tmp_path / "clips"))
    rows, wer = spec.evaluate("torch")
    assert [(name, ref) for name, _, ref in rows] == [("one", "HELLO WORLD")]
    assert wer >= 0
