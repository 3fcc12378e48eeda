"""Coral's `edgetpu_compiler`: an int8 TFLite file compiled for the Edge TPU, when the compiler
is on the PATH. It is x86-64 Linux only and on no package registry: Coral publishes it in its
own apt repository, so edgebench never installs it, it says how."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edgebench.errors import TargetUnavailable

COMPILER = "edgetpu_compiler"
HOW_TO_GET = ("the Edge TPU variant needs Coral's edgetpu_compiler (x86-64 Linux only, not on PyPI): add "
              "Coral's apt repository (https://coral.ai/docs/edgetpu/compiler/) and run "
              "`sudo apt-get install edgetpu-compiler`, then prepare again")
TIMEOUT_S = 600


def compiler_path() -> str | None:
    return shutil.which(COMPILER)


def compiler_version() -> str:
    """The compiler's own version line; TargetUnavailable with how to get it when absent."""
    path = compiler_path()
    if path is None:
        raise TargetUnavailable(HOW_TO_GET)
    try:
        proc = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetUnavailable(f"{COMPILER} on the PATH ({path}) does not run: {exc}") from None
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise TargetUnavailable(f"{COMPILER} --version failed (exit code {proc.returncode})")
    return lines[0][:200]


def compile_for_edgetpu(int8_tflite: Path, out: Path) -> dict:
    """Run `edgetpu_compiler -s -o DIR FILE` (-s: list which operations map to the Edge TPU) and
    move its FILE_edgetpu.tflite to `out`. RuntimeError with the compiler's last line on failure."""
    path = compiler_path()
    if path is None:
        raise RuntimeError(HOW_TO_GET)
    with tempfile.TemporaryDirectory(prefix="edgetpu-") as folder:
        proc = subprocess.run([path, "-s", "-o", folder, str(int8_tflite)], check=False, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        print(proc.stdout + proc.stderr, flush=True)   # into the variant's log
        produced = Path(folder) / f"{Path(int8_tflite).stem}_edgetpu.tflite"
        if proc.returncode != 0 or not produced.is_file():
            lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
            raise RuntimeError(f"{COMPILER} failed (exit code {proc.returncode}): "
                               f"{lines[-1] if lines else 'no output'}")
        shutil.move(str(produced), str(out))
    mapped = [ln for ln in proc.stdout.splitlines() if "Edge TPU" in ln]
    return {"compiler": compiler_version(), "compiler_summary": mapped[:5]}
