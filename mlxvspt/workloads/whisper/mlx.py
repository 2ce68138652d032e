"""Whisper in MLX: mlx-whisper's own model, front end and decoder, on the suite's weights."""
import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_whisper import audio
from mlx_whisper.decoding import DecodingOptions, decode
from mlx_whisper.tokenizer import get_tokenizer
from mlx_whisper.whisper import ModelDimensions
from mlx_whisper.whisper import Whisper as Model

from ...errors import Unavailable
from .checkpoint import require_same, to_mlx


def probe(target):
    """The front end's FFT must exist on the device (MLX's CUDA backend gained it only in 0.31.2)."""
    stream = target.handle  # Unavailable (with its reason) where MLX has no such device
    try:
        mx.eval(mx.fft.rfft(mx.zeros(800), stream=stream))
    except (RuntimeError, ValueError) as exc:
        raise Unavailable(f"MLX {mx.__version__} has no FFT on {target.backend()}: {exc}") from None


class Whisper:
    def __init__(self, target, dims, arrays, path):
        """`path` (spec.PATHS) changes nothing here: mlx-whisper holds its weights in the compute dtype
        on either path, as its transcribe(fp16=True) loads them."""
        self.target = target
        self.model = Model(ModelDimensions(**dims), target.dtype)
        arrays = to_mlx(arrays, dims)
        expected = {k: v.shape for k, v in tree_flatten(self.model.parameters()) if k != "alignment_heads"}
        require_same(expected, arrays, "checkpoint (mlx)")  # model.update below ignores unknown names
        self.model.update(tree_unflatten([(k, mx.array(v)) for k, v in arrays.items()]))
        self.model.set_dtype(target.dtype)
        mx.eval(self.model.parameters())
        self.fp16 = target.dtype == mx.float16
        self.eot = get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages).eot

    def mel(self, window):
        """(1, 3000, n_mels) log-mel of one 30-s window."""
        x = audio.log_mel_spectrogram(audio.pad_or_trim(mx.array(window)), self.model.dims.n_mels)[None]
        mx.eval(x)
        return x

    def encode(self, mel):
        x = self.model.embed_audio(mel.astype(self.target.dtype))
        mx.eval(x)
        return x

    def decode(self, features, options):
        """The library's DecodingResult per window: `options` from spec.fixed_options / natural_options."""
        return decode(self.model, features, DecodingOptions(**options, fp16=self.fp16))

    def weight_dtypes(self):
        """Sorted dtype names of the floating-point parameters, read from the model (alignment_heads,
        an integer index array, is not a weight)."""
        return sorted({self.target.fw.dtype_name(v) for _, v in tree_flatten(self.model.parameters())
                       if mx.issubdtype(v.dtype, mx.floating)})

    def array(self, x):
        return mx.array(x).astype(self.target.dtype)

    @staticmethod
    def numpy(x):
        return np.array(x.astype(mx.float32))
