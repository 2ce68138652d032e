"""Whisper in PyTorch: openai-whisper's own model, front end and decoder, on the suite's weights."""
import numpy as np
import torch
import whisper
from whisper.decoding import DecodingOptions, decode
from whisper.model import ModelDimensions
from whisper.tokenizer import get_tokenizer

from ...errors import Unavailable
from .checkpoint import require_same


def probe(target):
    """The front end's STFT must exist on the device."""
    device = target.handle  # Unavailable (with its reason) where PyTorch has no such device
    try:
        torch.stft(torch.zeros(800, device=device), 400, 160, window=torch.ones(400, device=device), return_complex=True)
    except (RuntimeError, NotImplementedError) as exc:
        raise Unavailable(f"torch.stft is missing on {target.backend()}: {exc}") from None


def hold_in(model, dtype):
    """Weights in `dtype`, except LayerNorm's: openai-whisper's LayerNorm computes in float32
    (`x.float()`), and torch's kernel then needs float32 parameters."""
    model.to(dtype)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.float()


class Whisper:
    def __init__(self, target, dims, arrays, path):
        """`path` (spec.PATHS): "library-default" keeps float32 weights as whisper.load_model does, and
        fp16 casts them on every call (fp16=True); "fp16-weights" holds them in the compute dtype."""
        self.target = target
        self.model = whisper.model.Whisper(ModelDimensions(**dims))
        require_same({k: v.shape for k, v in self.model.state_dict().items()}, arrays, "checkpoint (torch)")
        self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, strict=True)
        self.model.to(target.handle).eval()
        if path == "fp16-weights":
            hold_in(self.model, target.dtype)
        self.fp16 = target.dtype == torch.float16
        self.eot = get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages).eot

    def mel(self, window):
        """(1, n_mels, 3000) log-mel of one 30-s window."""
        audio = whisper.pad_or_trim(torch.from_numpy(window).to(self.target.handle))
        return whisper.log_mel_spectrogram(audio, self.model.dims.n_mels)[None]

    @torch.no_grad()
    def encode(self, mel):
        return self.model.embed_audio(mel.to(self.target.dtype))

    def decode(self, features, options):
        """The library's DecodingResult per window: `options` from spec.fixed_options / natural_options."""
        return decode(self.model, features, DecodingOptions(**options, fp16=self.fp16))

    def weight_dtypes(self):
        """Sorted dtype names of the parameters, read from the model."""
        return sorted({self.target.fw.dtype_name(p) for p in self.model.parameters()})

    def array(self, x):
        return torch.from_numpy(x).to(self.target.handle, self.target.dtype)

    @staticmethod
    def numpy(x):
        return x.float().cpu().numpy()
