"""Coral's preset catalogue: Google Coral's published, pre-quantized TFLite models, each with its
Edge TPU-compiled twin, as zoo entries.

Every file is read from Coral's public test-data repository at one fixed commit (never master,
which moves), pinned by the git blob id that commit's tree gives it (and by sha256 where one is on
record), so a download is checked byte for byte. Nothing here touches the network: a file is
fetched, announced, only when a target needs it (see models/weights.py).

What each entry states, and where it comes from:
- input size: Coral's model pages (coral.ai/models) and the file names (e.g. `_192_`); for the
  files in ../shared/fixtures/coral-zoo the file's own input tensor (tests/test_coral_presets.py
  checks it).
- preprocessing: Coral's examples (pycoral classify/detect) feed the uint8 pixels as they are; the
  files' input quantization (scale 1/128, zero point 128) reads them as [-1, 1], which is the
  "inception" normalisation. MoveNet's input is plain uint8 without quantization: pixels 0-255
  ("raw"). EfficientNet-EdgeTPU's float graph takes (pixel - 127) / 128 (tensorflow/tpu's
  efficientnet edgetpu builder).
- labels: TF-slim's ImageNet order with "background" first (1001 outputs) for the classifiers;
  COCO's 90 ids for the detectors (Coral's coco_labels.txt); PASCAL VOC's 21 classes for DeepLab;
  the iNaturalist birds' 965 names from Coral's inat_bird_labels.txt, itself a pinned download.

Left out of the catalogue (each needs what no task here decodes, or names nobody publishes with it):
the `_no_nms` SSD files (raw box encodings need their anchors), the TF2 and TF-Hub exports (class
order and input range not stated), the face/pet/products detectors and classifiers, Cityscapes
DeepLab and the Keras U-Nets (no label set here), the iNat insect/plant classifiers (their label
files are not pinned here), the LSTM and traffic models (state inputs), and the embedding extractors.
"""

from __future__ import annotations

from typing import NamedTuple

# google-coral/test_data at this commit: the bytes every pin below was taken from.
CORAL_COMMIT = "104342d2d3480b3e66203073dac24f4e2dbb4c41"
CORAL_BASE_URL = f"https://github.com/google-coral/test_data/raw/{CORAL_COMMIT}/"
CORAL_LICENSE = "Apache-2.0 (google-coral/test_data)"


class Pin(NamedTuple):
    """One file at CORAL_COMMIT: its path there, git blob id, and where on record size and sha256."""

    path: str
    git_blob: str
    size: int | None = None
    sha256: str | None = None


class Preset(NamedTuple):
    """A catalogue row: the zoo name, what it is, and its CPU file and Edge TPU twin."""

    name: str
    description: str
    task: str
    size: int                 # square input, pixels
    normalisation: str        # a zoo.NORMALISATIONS key, or "efficientnet-edgetpu"
    labels: str               # label set name (see models/zoo_labels.py)
    cpu: Pin
    edgetpu: Pin


_IMAGENET = "ImageNet, 1001 classes (background first), uint8"
_COCO = "COCO, 90 ids, boxes post-processed in the graph (TFLite_Detection_PostProcess)"

PRESETS: tuple[Preset, ...] = (
    # -- classification: TF-slim MobileNet V1 at its four widths
    Preset("mobilenet_v1_0.25_128_coral", f"Coral's MobileNetV1 0.25 128 quant ({_IMAGENET})",
           "image-classification", 128, "inception", "imagenet1001",
           Pin("mobilenet_v1_0.25_128_quant.tflite", "22b67d6a63753ad9907a4c8505632479ac439b94", 525598),
           Pin("mobilenet_v1_0.25_128_quant_edgetpu.tflite", "f0203c10fe12db2fe94cec88b7b80bb2e9baa238", 801454)),
    Preset("mobilenet_v1_0.5_160_coral", f"Coral's MobileNetV1 0.5 160 quant ({_IMAGENET})",
           "image-classification", 160, "inception", "imagenet1001",
           Pin("mobilenet_v1_0.5_160_quant.tflite", "9e1cfe5f512774a651ce19aab416789463b69665", 1392846,
               "3cc6d2ca460abd2e0f699a6d0d2550c6b61c6e3b0e27a3616e384ea74cb86f43"),
           Pin("mobilenet_v1_0.5_160_quant_edgetpu.tflite", "3531e2226764bd0cdcf00b7af6a0e350cff088dc", 1743534,
               "e8fc376452b2134637da71016e3d22a6013550bf40d032854c2cb5699da7c16e")),
    Preset("mobilenet_v1_0.75_192_coral", f"Coral's MobileNetV1 0.75 192 quant ({_IMAGENET})",
           "image-classification", 192, "inception", "imagenet1001",
           Pin("mobilenet_v1_0.75_192_quant.tflite", "cd76cbdc9cfa8ccc7fd1617b62f4fb250e4c9bee", 2652542,
               "41daeb22fdcf947e0e5ec32373aa9df7c31f3ef45dbd0ef7b5940fbce3c20f6a"),
           Pin("mobilenet_v1_0.75_192_quant_edgetpu.tflite", "d35739721c3e02a69397d3113ec6959b5d076a32", 3029678,
               "ead897a0aa6d184fc1b4149e85aede5c2eb4b4c5644424c71c651f19f5761b33")),
    Preset("mobilenet_v1_1.0_224_coral", f"Coral's MobileNetV1 1.0 224 quant ({_IMAGENET})",
           "image-classification", 224, "inception", "imagenet1001",
           Pin("mobilenet_v1_1.0_224_quant.tflite", "ed3753826e390f0ddec8c36a8125d0dc97fd43ef"),
           Pin("mobilenet_v1_1.0_224_quant_edgetpu.tflite", "9b78e04db00702d2995b65a05b872e981e0041a9")),
    # -- classification: TF-slim Inception V1-V4
    Preset("inception_v1_224_coral", f"Coral's Inception V1 224 quant ({_IMAGENET})",
           "image-classification", 224, "inception", "imagenet1001",
           Pin("inception_v1_224_quant.tflite", "088ffa53d18e2b435e3e8fd1361d2ab46d974b05"),
           Pin("inception_v1_224_quant_edgetpu.tflite", "d7ff7b1790e8cad63d5a63b4d145a369c6210c62")),
    Preset("inception_v2_224_coral", f"Coral's Inception V2 224 quant ({_IMAGENET})",
           "image-classification", 224, "inception", "imagenet1001",
           Pin("inception_v2_224_quant.tflite", "1546a3a490b475bbeba8a9ff296c837d1dfc295c"),
           Pin("inception_v2_224_quant_edgetpu.tflite", "6a6a3f607515799d2dbeee793c7483151d1a4ca7")),
    Preset("inception_v3_299_coral", f"Coral's Inception V3 299 quant ({_IMAGENET})",
           "image-classification", 299, "inception", "imagenet1001",
           Pin("inception_v3_299_quant.tflite", "8c52290bbb4120cbc61eb9a8979ed18da158403c"),
           Pin("inception_v3_299_quant_edgetpu.tflite", "32dd78f1102109bed993fc2759e66d5d6eff3fea")),
    Preset("inception_v4_299_coral", f"Coral's Inception V4 299 quant ({_IMAGENET})",
           "image-classification", 299, "inception", "imagenet1001",
           Pin("inception_v4_299_quant.tflite", "3908260a7c2c31765179df04fe9030da86dfbfd7"),
           Pin("inception_v4_299_quant_edgetpu.tflite", "10b244f18e8271ae14cd17b572e5f5c455ad8961")),
    # -- classification: EfficientNet-EdgeTPU S/M/L (inputs 224/240/300, Coral's model page)
    Preset("efficientnet_edgetpu_s_coral", f"Coral's EfficientNet-EdgeTPU S 224 quant ({_IMAGENET})",
           "image-classification", 224, "efficientnet-edgetpu", "imagenet1001",
           Pin("efficientnet-edgetpu-S_quant.tflite", "46b62bf9b5b589ac8d2854c8459316d42c986340"),
           Pin("efficientnet-edgetpu-S_quant_edgetpu.tflite", "8bc77a71ec104e9a9127d75ca9c503b3dfc69afc")),
    Preset("efficientnet_edgetpu_m_coral", f"Coral's EfficientNet-EdgeTPU M 240 quant ({_IMAGENET})",
           "image-classification", 240, "efficientnet-edgetpu", "imagenet1001",
           Pin("efficientnet-edgetpu-M_quant.tflite", "dae2c73bbcb2468d3b2f5bd8061887b860389f47"),
           Pin("efficientnet-edgetpu-M_quant_edgetpu.tflite", "1f204b7d4676664e789eaf3a40a8a61547059e4c")),
    Preset("efficientnet_edgetpu_l_coral", f"Coral's EfficientNet-EdgeTPU L 300 quant ({_IMAGENET})",
           "image-classification", 300, "efficientnet-edgetpu", "imagenet1001",
           Pin("efficientnet-edgetpu-L_quant.tflite", "12428a989650033e110325af111666781f5e9fca"),
           Pin("efficientnet-edgetpu-L_quant_edgetpu.tflite", "da0fb72fd67a7ac1e7e2359d1214fe307edfbcb6")),
    # -- classification: iNaturalist birds, with Coral's own label file
    Preset("mobilenet_v2_inat_bird_coral",
           "Coral's MobileNetV2 1.0 224 iNaturalist birds quant (965 species, inat_bird_labels.txt)",
           "image-classification", 224, "inception", "inat_bird",
           Pin("mobilenet_v2_1.0_224_inat_bird_quant.tflite", "225ffa93c74237a64e1a5782fce3dfbc61f9d380", 3579500,
               "350fcd8cf1df1560060d464595dfed8b174b05792788052896004848d9ad04f9"),
           Pin("mobilenet_v2_1.0_224_inat_bird_quant_edgetpu.tflite", "35f31efe2d3ccc81376647c7f818a684adde0aae")),
    # -- object detection (COCO)
    Preset("ssd_mobilenet_v1_coco_coral", f"Coral's SSD MobileNetV1 300 quant ({_COCO})",
           "object-detection", 300, "inception", "coco90",
           Pin("ssd_mobilenet_v1_coco_quant_postprocess.tflite", "1a2270d37dd7d0f84acc49e069391312e697cf12"),
           Pin("ssd_mobilenet_v1_coco_quant_postprocess_edgetpu.tflite", "07721d3949bd8f5a78b76e57fe3fafcf09207785")),
    Preset("ssd_mobilenet_v2_coco_coral", f"Coral's SSD MobileNetV2 300 quant ({_COCO})",
           "object-detection", 300, "inception", "coco90",
           Pin("ssd_mobilenet_v2_coco_quant_postprocess.tflite", "28b6bdee3548170bb999ffcc7248b40d76f6b6b8"),
           Pin("ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite", "67037e5ef832559e9b49beac96b11f2a0788ee63")),
    Preset("ssdlite_mobiledet_coco_coral", f"Coral's SSDLite MobileDet 320 QAT ({_COCO})",
           "object-detection", 320, "inception", "coco90",
           Pin("ssdlite_mobiledet_coco_qat_postprocess.tflite", "f2857fa8b4a89cc285194ab5a636ddbe2def7fde"),
           Pin("ssdlite_mobiledet_coco_qat_postprocess_edgetpu.tflite", "88d57192111241e540384f59c8d108a8452b920c")),
    Preset("efficientdet_lite0_coral", f"Coral's EfficientDet-Lite0 320 PTQ ({_COCO})",
           "object-detection", 320, "inception", "coco90",
           Pin("efficientdet_lite0_320_ptq.tflite", "8f419c65be6fb981a1aec8bffc670a236a892ba2"),
           Pin("efficientdet_lite0_320_ptq_edgetpu.tflite", "f25f21ebd46eef3e151de0c5cad1aa493b6cd5dc")),
    Preset("efficientdet_lite1_coral", f"Coral's EfficientDet-Lite1 384 PTQ ({_COCO})",
           "object-detection", 384, "inception", "coco90",
           Pin("efficientdet_lite1_384_ptq.tflite", "0b7cd7fd6e75d148193a406da09eae693f120745"),
           Pin("efficientdet_lite1_384_ptq_edgetpu.tflite", "a8f4529452d14ef46b928366eec26deea7efa31b")),
    Preset("efficientdet_lite2_coral", f"Coral's EfficientDet-Lite2 448 PTQ ({_COCO})",
           "object-detection", 448, "inception", "coco90",
           Pin("efficientdet_lite2_448_ptq.tflite", "ad155dbb048b4f8572aefcba6104409a798b74cf"),
           Pin("efficientdet_lite2_448_ptq_edgetpu.tflite", "9b0d4f55905c6f108bca6203d8b24c4e9da846cb")),
    Preset("efficientdet_lite3_coral", f"Coral's EfficientDet-Lite3 512 PTQ ({_COCO})",
           "object-detection", 512, "inception", "coco90",
           Pin("efficientdet_lite3_512_ptq.tflite", "1ee099cd93b35b5133c41e4d241519d15b86dbe2"),
           Pin("efficientdet_lite3_512_ptq_edgetpu.tflite", "529ed7058174de49bd53f2816ba23408f12cc106")),
    Preset("efficientdet_lite3x_coral", f"Coral's EfficientDet-Lite3x 640 PTQ ({_COCO})",
           "object-detection", 640, "inception", "coco90",
           Pin("efficientdet_lite3x_640_ptq.tflite", "f199b6ffde7644d3232cc76967ac572baf9e5fac"),
           Pin("efficientdet_lite3x_640_ptq_edgetpu.tflite", "bf46c5b9cab5637a67bf37a33f4c88cc634b76e4")),
    # -- semantic segmentation (PASCAL VOC): the output is the per-pixel class map (ArgMax)
    Preset("deeplabv3_mnv2_pascal_coral",
           "Coral's DeepLabV3 MobileNetV2 513 quant (PASCAL VOC, 21 classes, per-pixel class map)",
           "semantic-segmentation", 513, "inception", "voc21",
           Pin("deeplabv3_mnv2_pascal_quant.tflite", "cfb544901b574fc95309f4d3cd33b81934642f1c", 2193224,
               "350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398"),
           Pin("deeplabv3_mnv2_pascal_quant_edgetpu.tflite", "b87263fc347534f5c59b6cf3b556a6f488ccd326", 2913920,
               "4d899a809ac1d7032880392ef09ee1a891205ecaae2cde288fd3fe7f7dda966e")),
    Preset("deeplabv3_mnv2_dm05_pascal_coral",
           "Coral's DeepLabV3 MobileNetV2 (depth 0.5) 513 quant (PASCAL VOC, 21 classes, per-pixel class map)",
           "semantic-segmentation", 513, "inception", "voc21",
           Pin("deeplabv3_mnv2_dm05_pascal_quant.tflite", "c5fdea1551c6b0b799e92d72ce8a3fe46cdd5e13", 760904),
           Pin("deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite", "1dc42b692524a3c7b629c935b69fc01a05bdef64", 1107584)),
    # -- pose estimation: 17 COCO keypoints (y, x, score)
    Preset("movenet_lightning_coral", "Coral's MoveNet single-pose Lightning 192 PTQ (17 COCO keypoints)",
           "pose-estimation", 192, "raw", "coco_keypoints",
           Pin("movenet_single_pose_lightning_ptq.tflite", "67a2124a1935f304b3b282a475b9205822dc6274", 2894840,
               "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105"),
           Pin("movenet_single_pose_lightning_ptq_edgetpu.tflite", "d9b87ef21a0b998bff71d8c4eb006d1029bad665", 3087168,
               "25c88b77586f65c5c80d868c0555fb194f2b38c0b55aa491f4a93b7d7da58e78")),
    Preset("movenet_thunder_coral", "Coral's MoveNet single-pose Thunder 256 PTQ (17 COCO keypoints)",
           "pose-estimation", 256, "raw", "coco_keypoints",
           Pin("movenet_single_pose_thunder_ptq.tflite", "42330c1bcbe4daeb51f3eabd95090d854455d094"),
           Pin("movenet_single_pose_thunder_ptq_edgetpu.tflite", "8c74dfc6ce98dd6e1122f0ef3eeec9847f2d0e21")),
)

# Label files the presets read, pinned like the models (taken from ../shared/fixtures/coral-zoo,
# copied from the repository at CORAL_COMMIT).
LABEL_FILES: dict[str, Pin] = {
    "inat_bird": Pin("inat_bird_labels.txt", "dfe4777e80d5086d4dfc047c2ee251924a58a401", 37146,
                     "a16108dfe3f8daff015b87a97ab6a17e717b9b1bccd719f6d8f747746d7b9277"),
}


def pinned_source(pin: Pin):
    """The WeightsSource that fetches a pinned file from Coral's repository at CORAL_COMMIT."""
    from edgebench.models.zoo import WeightsSource

    return WeightsSource(filename=pin.path.rsplit("/", 1)[-1], sha256=pin.sha256, url=CORAL_BASE_URL + pin.path,
                         git_blob=pin.git_blob, size=pin.size)


def _preprocessing(preset: Preset):
    from edgebench.models.zoo import Preprocessing, preprocessing_named

    if preset.normalisation == "efficientnet-edgetpu":
        size = preset.size
        return Preprocessing(resize=round(size * 256 / 224), crop=size, mean=(127 / 255,) * 3,
                             std=(128 / 255,) * 3, name="efficientnet-edgetpu")
    return preprocessing_named(preset.normalisation, preset.size)


def coral_specs() -> tuple:
    """The catalogue as zoo entries (ModelSpec), built when the zoo is (after its classes exist)."""
    from edgebench.models.zoo import ModelSpec

    return tuple(ModelSpec(
        name=p.name, description=p.description, task=p.task, arch=None, weights=None,
        preprocessing=_preprocessing(p), labels=p.labels, input_shape=(1, 3, p.size, p.size),
        variants=(("tflite", "int8"), ("tflite-edgetpu", "int8")), license=CORAL_LICENSE,
        prebuilt=((("tflite", "int8"), pinned_source(p.cpu)), (("tflite-edgetpu", "int8"), pinned_source(p.edgetpu))),
        label_file=pinned_source(LABEL_FILES[p.labels]) if p.labels in LABEL_FILES else None,
    ) for p in PRESETS)
