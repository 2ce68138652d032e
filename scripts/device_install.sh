#!/usr/bin/env bash
# When: on a fresh NVIDIA device machine, before gpu_point.sh or dp_gpu.sh, once per MLX release measured.
# On the NVIDIA device machine (no network): install an MLX release carried as wheels, its mlx-cuda-13
# wheel split in two parts (split -b 46000000: one call carries 64 MiB at most, see
# shared/device-mlx-cuda.md), into the machine's python3 (its nvidia-* libraries are what libmlx.so links
# against), and this checkout in editable mode.
#   device_install.sh stash VERSION FOLDER   keep a carried folder's wheels and parts in /tmp/w-VERSION
#                                            (the machine is warm 30 s after a call: carry the next soon)
#   device_install.sh install VERSION        assemble mlx-cuda-13 from its parts and install every wheel
#                                            stashed for VERSION (another release's mlx, mlx-lm replaced)
#   device_install.sh side VERSION           install VERSION's stashed wheels beside the machine's, in
#                                            /tmp/side-mlx-VERSION (what gpu_parts.sh's "mlx-VERSION/" jobs
#                                            put first on the path), so two MLX releases run at once, and
#                                            a python of it there (`confirm --python ENTRY=/tmp/side-.../python`)
# e.g. call 1: stash 0.32.4 .whl_a; call 2: stash 0.32.4 .whl_b && install 0.32.4; later stash 0.32.3
# .whl_c, stash 0.32.3 .whl_d and, once the jobs of 0.32.4 are done, install 0.32.3 (or at once: side 0.32.3).
set -euo pipefail
what=$1 version=$2 stash=/tmp/w-$2

assemble() {
    if [ -f "$stash/part_aa" ]; then
        cat "$stash/part_aa" "$stash/part_ab" > "$stash/mlx_cuda_13-$version-py3-none-manylinux_2_35_x86_64.whl"
        rm "$stash/part_aa" "$stash/part_ab"
    fi
}

case "$what" in
stash)
    mkdir -p "$stash"
    cp "$3"/* "$stash"/
    ls "$stash"
    ;;
install)
    assemble
    python3 -m pip install -q --no-index --no-deps "$stash"/*.whl
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .
    python3 -c "import mlx.core as mx, torch; print('mlx', mx.__version__, mx.default_device(), 'torch', torch.__version__, torch.cuda.get_device_name())"
    ;;
side)
    assemble
    side=/tmp/side-mlx-$version
    python3 -m pip install -q --no-index --no-deps --target "$side" "$stash"/*.whl
    # libmlx.so finds the CUDA libraries through its rpath, $ORIGIN/../../nvidia: the machine's own
    ln -sfn "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia" "$side/nvidia"
    # a python of that release set, for `mlxvspt confirm --python ENTRY=$side/python`: asv's benchmark
    # processes drop PYTHONPATH's entries from sys.path unless ASV_PYTHONPATH names them
    printf '#!/bin/sh\nexport PYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} ASV_PYTHONPATH=%s\nexec %s "$@"\n' \
        "$side" "$side" "$(command -v python3)" > "$side/python"
    chmod +x "$side/python"
    "$side/python" -c "import mlx.core as mx; print('beside: mlx', mx.__version__, mx.default_device(), mx.ones(2).sum().item())"
    ;;
*)
    echo "usage: device_install.sh stash VERSION FOLDER | install VERSION | side VERSION" >&2
    exit 2
    ;;
esac
