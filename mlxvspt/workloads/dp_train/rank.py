"""One rank of a data-parallel run: `python -m mlxvspt.workloads.dp_train.rank CONFIG`, started by
mlx.launch or torchrun (never directly). CONFIG, a JSON text from spec.run_ranks (on the command line,
so ranks on other machines need no shared files), names the framework, device, precision, sizes,
steps and where rank 0 writes its figures (JSON) and final weights.

Every rank draws the same global batch from lm_train's sampler and trains on its contiguous slice of
rows; the gradients are averaged over the ranks, so R ranks take the same steps as one process
with the whole batch. Each step starts at a barrier and rank 0 times it to its synchronised end.
"""
import hashlib
import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ...measure.devices import Target
from ...measure.settings import HOST_GPUS
from ...measure.weights import save
from .. import implementation
from ..lm_train import data
from ..lm_train.spec import HYPER, initial_weights


def digest(weights):
    """The first 93 bits of a sha256 over every parameter's bytes, as three int32 (gatherable)."""
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode() + np.ascontiguousarray(weights[name], np.float32).tobytes())
    raw = h.digest()
    return [int.from_bytes(raw[4 * i:4 * i + 4], "little") & 0x7FFFFFFF for i in range(3)]


def train(config, dist, rank, size, target):
    """(step seconds, losses, trainer, rows per rank) after config['steps'] steps on this rank's slice."""
    sizes = config["sizes"]
    corpus = data.corpus(sizes)
    sizes = {**sizes, "vocab": corpus.vocab}
    trainer = implementation("lm_train", target.framework).Trainer(
        target, sizes, initial_weights(sizes), {**HYPER, "warmup": sizes["warmup"]}, sizes["compile"],
        data_parallel=True)
    batches = data.Batches(corpus.train, sizes["batch"], sizes["context"])
    rows = slice(rank * sizes["batch"] // size, (rank + 1) * sizes["batch"] // size)
    seconds, losses = [], []
    for _ in range(config["steps"]):
        inputs, targets = next(batches)
        dist.barrier()
        start = time.perf_counter()
        losses.append(trainer.step(inputs[rows], targets[rows]))
        seconds.append(time.perf_counter() - start)
    return seconds, losses, trainer, len(inputs[rows])


def own_gpu(environ):
    """mlx.launch gives rank r the host's GPU r (CUDA_VISIBLE_DEVICES=r) whatever GPUs it was given
    itself: map r through the launcher's list (HOST_GPUS), before CUDA starts. torchrun's ranks keep the
    launcher's list and pick from it by LOCAL_RANK."""
    given, mine = environ.get(HOST_GPUS), environ.get("CUDA_VISIBLE_DEVICES", "")
    if given and mine.isdigit():
        environ["CUDA_VISIBLE_DEVICES"] = given.split(",")[int(mine)]


def main(text):
    own_gpu(os.environ)
    config = json.loads(text)
    target = Target(config["framework"], config["device"], config["precision"]).activate()
    dist = importlib.import_module(f"mlxvspt.workloads.dp_train.{target.framework}")
    rank, size = dist.init(target, config["ranks"])
    if size != config["ranks"]:
        raise RuntimeError(f"{size} ranks joined; {config['ranks']} were launched")
    figures = {"framework": target.framework, "device": target.device, "precision": target.precision,
               "ranks": size, "ran": {"ranks": size, "backend": dist.backend_in_use(target, size)}}
    if config["steps"]:
        seconds, losses, trainer, rows = train(config, dist, rank, size, target)
        figures["ran"].update(weights_dtype=dist.weights_dtype(trainer), rank_batch=rows)
        weights = trainer.weights()
        table = dist.gather([target.peak_memory() // 1024, *digest(weights)])
        figures.update(step_seconds=seconds, rank0_losses=losses,
                       peak_memory_bytes=[int(kib) * 1024 for kib in table[:, 0]],
                       weights_digests=[" ".join(map(str, row)) for row in table[:, 1:].tolist()])
        if rank == 0 and config.get("weights"):
            save(weights, config["weights"])
    figures["allreduce_seconds"] = {str(n): dist.allreduce_seconds(n, config["allreduce_iterations"],
                                                                max(1, config["allreduce_bytes_per_sample"] // n))
                                    for n in config["allreduce_bytes"]}
    dist.barrier()
    if rank == 0:
        tmp = Path(config["figures"] + ".tmp")
        tmp.write_text(json.dumps(figures))
        os.replace(tmp, config["figures"])
    dist.barrier()  # no rank leaves while rank 0 still writes (a peer gone mid-write could abort it)
    dist.finish()


if __name__ == "__main__":
    main(sys.argv[1])
    # Leave without interpreter finalisation: the figures and weights are on disk, but threads a process
    # group leaves behind (gloo's loop, the store client, even after destroy_process_group) race Python's
    # and the libraries' destructors there and can abort a finished run (pytorch/pytorch#179291).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
