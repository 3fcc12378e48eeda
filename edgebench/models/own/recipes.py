"""The variants of a user's own float model and how each is made (in a child process).

From a float ONNX file: ONNX int8 (ONNX Runtime static quantization, QDQ: the zoo's recipe),
OpenVINO int8 (NNCF post-training quantization of the OpenVINO model read from the ONNX file,
saved as OpenVINO IR). The file itself is the fp32 variant of ONNX Runtime and OpenVINO.
No TFLite: the one ONNX -> TFLite converter (onnx2tf) needs TensorFlow, a download of ~600 MB
that edgebench does not install, and litert-torch converts torch modules, not ONNX graphs.

From a `.pt2` (torch.export ExportedProgram, read by edgebench.arch.pt2, which runs no code
from the file): torch fp32 (the program's module; eager or frozen as the torch target's mode
says), ONNX fp32 (torch.onnx.export of the program) and the ONNX variants above, TFLite fp32
(litert-torch, NHWC input as the zoo's) and int8 (ai-edge-quantizer, the zoo's recipe), and
the Edge TPU file when Coral's `edgetpu_compiler` is on the PATH.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

Variant = tuple[str, str]

# Bump when a builder's output would change for the same inputs and toolchain.
# 2: a classifier calibrated and checked on the very samples a zoo model gets (extra views of the
#    built-in photos).
# 3: a detector checked as the zoo's detector is (mean box F1 over the held-back samples with objects).
RECIPE_VERSION = 3


@dataclass(frozen=True)
class OwnRecipe:
    """How one variant is made. toolchain: distributions whose versions key the cache
    ("edgetpu_compiler" is the compiler's own --version)."""

    suffix: str
    toolchain: tuple[str, ...]
    install_hint: str
    builder: str                   # function name in this module
    source: Variant | None = None  # the variant it is built from; None: from the user's file
    calibrated: bool = False       # quantized on calibration images (keyed and checked)


ONNX_INT8 = OwnRecipe(".onnx", ("onnxruntime", "onnx"), "pip install 'edgebench[onnx]'", "_onnx_int8",
                      ("onnx", "fp32"), calibrated=True)
OPENVINO_INT8 = OwnRecipe(".xml", ("openvino", "nncf"), "pip install 'edgebench[openvino]'", "_openvino_int8",
                          ("onnx", "fp32"), calibrated=True)

# None: the user's file is that variant, as it is.
FROM_ONNX: dict[Variant, OwnRecipe | None] = {
    ("onnx", "fp32"): None,
    ("onnx", "int8"): ONNX_INT8,
    ("openvino", "int8"): OPENVINO_INT8,
}
FROM_PT2: dict[Variant, OwnRecipe | None] = {
    ("torch", "fp32"): None,
    ("onnx", "fp32"): OwnRecipe(".onnx", ("torch", "onnx", "onnxscript"), "pip install 'edgebench[onnx]'",
                                "_onnx_fp32"),
    ("onnx", "int8"): ONNX_INT8,
    ("openvino", "int8"): OPENVINO_INT8,
    ("tflite", "fp32"): OwnRecipe(".tflite", ("torch", "litert-torch"), "pip install 'edgebench[convert]'",
                                  "_tflite_fp32"),
    ("tflite", "int8"): OwnRecipe(".tflite", ("ai-edge-quantizer", "ai-edge-litert"),
                                  "pip install 'edgebench[convert]'", "_tflite_int8", ("tflite", "fp32"),
                                  calibrated=True),
    ("tflite-edgetpu", "int8"): OwnRecipe("_edgetpu.tflite", ("edgetpu_compiler",), "", "_edgetpu",
                                          ("tflite", "int8")),
}
# What a target that reads only these formats is told, for a float ONNX file.
NOT_FROM_ONNX = {
    "tflite": "no TFLite variant from ONNX: the only ONNX-to-TFLite converter, onnx2tf, needs TensorFlow "
              "(a ~600 MB download edgebench does not make); export a .pt2 with torch.export instead",
    "tflite-edgetpu": "no Edge TPU variant from ONNX: it is compiled from a TFLite int8 file, and there is "
                      "none from ONNX (export a .pt2 with torch.export instead)",
    "torch": "an ONNX file does not run on torch (export a .pt2 with torch.export instead)",
}


def recipes_for(origin: str) -> dict[Variant, OwnRecipe | None]:
    return FROM_PT2 if origin == "pt2" else FROM_ONNX


# Builders: (job, source artifact or None, output path) -> extra metadata. `job` is a
# models.own.build.Job: the user's file, its float input spec and the calibration samples.

def _onnx_fp32(job, _source, out: Path) -> dict:
    import torch

    from edgebench.arch.pt2 import load_exported_program
    from edgebench.models.prepare import _stage

    program = load_exported_program(job.path)
    _stage("exporting the ExportedProgram with torch.onnx.export (dynamo)")
    torch.onnx.export(program, (torch.zeros(job.input_shape),), str(out), dynamo=True,
                      external_data=False, verbose=False)
    return {"exporter": "torch.onnx.export(ExportedProgram, dynamo=True)"}


def _onnx_int8(job, source, out: Path) -> dict:
    from edgebench.models.prepare import _quantize_onnx_int8

    return _quantize_onnx_int8(job, source, out)


def _openvino_int8(job, source, out: Path) -> dict:
    """NNCF post-training quantization (its default mixed preset, fast bias correction) of the
    OpenVINO model read from the float ONNX file, saved as IR (.xml + .bin beside it)."""
    import nncf
    import openvino as ov

    from edgebench.models.prepare import _stage

    samples = job.calibration_nchw()
    model = ov.Core().read_model(str(source.path))
    _stage(f"quantizing with NNCF on {len(samples)} calibration samples")
    quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples),
                              fast_bias_correction=True)
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return {"quantizer": f"nncf.quantize (post-training, fast bias correction), NNCF {nncf.__version__}",
            "calibration_samples": len(samples), "weights_file": out.with_suffix(".bin").name}


def _tflite_fp32(job, _source, out: Path) -> dict:
    import litert_torch
    import torch

    from edgebench.arch.pt2 import load_exported_module
    from edgebench.models.prepare import _stage

    n, c, h, w = job.input_shape
    module = litert_torch.to_channel_last_io(load_exported_module(job.path), args=[0])
    module.training = False
    _stage("converting with litert-torch")
    litert_torch.convert(module, (torch.zeros(n, h, w, c),)).export(str(out))
    return {"converter": "litert_torch.convert", "input_layout": "NHWC"}


def _tflite_int8(job, source, out: Path) -> dict:
    from edgebench.models.prepare import _quantize_tflite_int8

    return _quantize_tflite_int8(job, source, out)


def _edgetpu(_job, source, out: Path) -> dict:
    from edgebench.models.own.edgetpu_compiler import compile_for_edgetpu

    return compile_for_edgetpu(source.path, out)


def calibration_samples(images: list[Path], prep, geometry: str, size: tuple[int, int]) -> list[np.ndarray]:
    """Float NCHW samples of `images` as `run` feeds the model: centre-cropped for a classifier
    ("crop"), the whole photo resized for a detector ("stretch")."""
    from dataclasses import replace

    from edgebench.models.images import load_image, stretch_float_nchw, to_float_nchw

    samples = []
    for path in images:
        img = load_image(path)
        if geometry == "stretch":
            samples.append(stretch_float_nchw(img, prep, size))
        else:
            samples.append(to_float_nchw(img, replace(prep, crop=size[0]) if prep.crop != size[0] else prep))
    return samples
