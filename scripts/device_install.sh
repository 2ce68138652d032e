#!/usr/bin/env bash
# On the NVIDIA device machine (no network): assemble the mlx-cuda-13 wheel carried in two parts
# (.whl_a then .whl_b, see shared/device-mlx-cuda.md), install every carried wheel into the machine's
# python3 (its nvidia-* libraries are what libmlx.so links against) and this checkout in editable mode.
set -euo pipefail
mkdir -p /tmp/w
cp .whl_b/* /tmp/w/
( cd /tmp/w && cat part_aa part_ab > mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl && rm part_aa part_ab )
python3 -m pip install -q --no-index --no-deps /tmp/w/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .
python3 -c "import mlx.core as mx, torch; print('mlx', mx.__version__, mx.default_device(), 'torch', torch.__version__, torch.cuda.get_device_name())"
