"""PyTorch on the CPU. Default mode 'frozen' (TorchScript trace + freeze + optimize_for_inference),
the fastest CPU mode measured here (see benchmarks/RESULTS.md); 'eager' and 'compile' selectable
with --torch-mode."""

from __future__ import annotations

import os

import numpy as np

from edgebench.errors import UserError
from edgebench.runtimes.base import RuntimeOptions, TensorSpec, module_importable, package_version

MODES = ("frozen", "eager", "compile")


class TorchSession:
    def __init__(self, module, input_shape: tuple[int, ...], output_shape: tuple[int, ...]):
        import torch

        self._torch = torch
        self._module = module
        self._x = None
        self._y = None
        self.input_spec = TensorSpec("input", input_shape, "float32", "NCHW")
        self.output_spec = TensorSpec("logits", output_shape, "float32")

    def set_input(self, x: np.ndarray) -> None:
        self._x = self._torch.from_numpy(x)

    def invoke(self) -> None:
        with self._torch.inference_mode():
            self._y = self._module(self._x)

    def output(self) -> np.ndarray:
        return self._y.numpy()

    def close(self) -> None:
        self._module = None


class TorchRuntime:
    name = "torch"
    formats = ("torch",)

    def version(self) -> str | None:
        return package_version("torch")

    def available(self) -> tuple[bool, str]:
        if not module_importable("torch"):
            return False, "torch not installed (pip install torch)"
        return True, "CPU"

    def load(self, artifact, options: RuntimeOptions) -> TorchSession:
        import torch

        from edgebench.models.torch_module import load_torch_module

        mode = options.extra.get("torch_mode", "frozen")
        if mode not in MODES:
            raise UserError(f"unknown torch mode '{mode}'; choose from {', '.join(MODES)}")
        torch.set_num_threads(options.threads or os.cpu_count() or 1)
        module = load_torch_module(artifact.arch, artifact.path)
        input_shape = tuple(options.extra.get("input_shape", (1, 3, 224, 224)))
        sample = torch.zeros(input_shape)
        with torch.no_grad():
            if mode == "frozen":
                module = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(module, sample)))
            elif mode == "compile":
                module = torch.compile(module)
            output_shape = tuple(module(sample).shape)
        return TorchSession(module, input_shape, output_shape)
