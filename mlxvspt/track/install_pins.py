"""Install one ledger entry into an asv virtualenv: its pins, the MLX backend for this platform, and
this suite's own package (standard library only: it runs in a bare environment).

Usage (asv's install_command): python install_pins.py {build_dir} {conf_dir}
"""
import platform
import shutil
import subprocess
import sys
from pathlib import Path


def backend_pin(pins):
    """mlx-cpu / mlx-cuda-13 at mlx's version on Linux; nothing on macOS (Metal is built in)."""
    mlx = next(line.split("==")[1] for line in pins if line.startswith("mlx=="))
    if platform.system() == "Darwin":
        return []
    return [f"mlx-cuda-13=={mlx}" if shutil.which("nvidia-smi") else f"mlx-cpu=={mlx}"]


def main(build_dir, conf_dir):
    pins = Path(build_dir, "pins.txt").read_text().split()
    constraints = Path(build_dir, "all-pins.txt")
    constraints.write_text("\n".join(pins + backend_pin(pins)) + "\n")
    pip = [sys.executable, "-m", "pip", "install", "-q", "-c", str(constraints)]
    subprocess.run(pip + ["torch"], check=True)  # first: a CPU-only machine must not resolve a CUDA build
    subprocess.run(pip + ["-r", str(constraints), conf_dir], check=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
