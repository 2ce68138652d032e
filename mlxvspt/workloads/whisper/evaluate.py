"""Real transcription, apart from the benchmark: the user's trained checkpoint on the user's clips, each
window decoded until the model stops, and the word error rate against the references found.

    python -m mlxvspt.workloads.whisper.evaluate --framework torch  (with MLXVSPT_WHISPER_CHECKPOINT and
    MLXVSPT_AUDIO set, e.g. from `mlxvspt fetch whisper-tiny` and `mlxvspt fetch librispeech`)
"""
import argparse
import sys

from ...measure.devices import Target
from ...errors import Unavailable, UsageError
from ...paths import user_input
from . import audio, spec


def evaluate(framework, device="cpu", precision="fp32", count=None, path=spec.PATHS[0]):
    """([(clip, transcript, reference or None)], word error rate over the clips with a reference or None)."""
    folder, weights = user_input("audio"), user_input("whisper_checkpoint")
    if folder is None or weights is None:
        raise UsageError("transcripts need --whisper-checkpoint (a trained model) and --audio (clips with "
                         "LibriSpeech *.trans.txt or <clip>.txt references)")
    target = Target(framework, device, precision)
    sizes = {"model": None, "path": path, "cpu_fp16": True}  # a user's transcription may run fp16 on a CPU
    reason = spec.unavailable(target, sizes)
    if reason:
        raise Unavailable(reason)
    whisper = spec.model(target.activate(), sizes)
    refs = audio.references(folder)
    rows = []
    for name, clip in audio.from_folder(folder, count).items():
        texts = [whisper.decode(whisper.encode(whisper.mel(w)), spec.natural_options())[0].text
                 for w in audio.windows({name: clip})]
        rows.append((name, " ".join(t.strip() for t in texts), refs.get(name)))
    scored = [(text, ref) for _, text, ref in rows if ref is not None]
    wer = audio.word_error_rate(*zip(*scored)) if scored else None
    return rows, wer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", choices=("mlx", "torch"), default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--path", choices=spec.PATHS, default=spec.PATHS[0])
    parser.add_argument("--clips", type=int, help="transcribe only the first N clips")
    args = parser.parse_args(argv)
    try:
        rows, wer = evaluate(args.framework, args.device, args.precision, args.clips, args.path)
    except (UsageError, Unavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, text, ref in rows:
        print(f"{name}: {text}" + (f"\n{'':{len(name)}}  ref: {ref}" if ref else ""))
    print(f"word error rate: {wer:.2%}" if wer is not None else "word error rate: no references found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
