"""Published MobileNetV2 figures (never measured by edgebench), each with its citation.

Source: ../shared/reference/published.md, transcribed once. Sterckval's figures are read off
the article's linear fps chart (about +/- 1 fps; the article gives no table). Coral's are
milliseconds per inference from its Edge TPU benchmark page. Everything here is labelled
"published" wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

STERCKVAL_2019 = ("Sterckval 2019, \"Google Coral Edge TPU vs NVIDIA Jetson Nano: A quick deep dive "
                  "into EdgeAI performance\" (medium.com/@samsterckval; republished by raccoons.be). "
                  "Values read off the article's linear fps chart, about +/- 1 fps.")
CORAL_BENCHMARKS = ("Coral, \"Edge TPU performance benchmarks\" (coral.ai/docs/edgetpu/benchmarks), "
                    "MobileNet v2 224x224, batch 1")
CORAL_FAQ_2019 = "Coral, Edge TPU FAQ (2019 version of the benchmark table), MobileNet v2 224x224"


@dataclass(frozen=True)
class PublishedFigure:
    """One published setup. fps and ms are as published (one derived from the other)."""

    setup: str            # as labelled by the source
    device: str           # host (and accelerator) in a few words, for grouping
    accelerator: str | None
    runtime: str
    precision: str        # fp32 or int8
    fps: float
    ms: float
    power_w: float | None  # a power the source quotes for the setup, if any
    power_note: str | None
    source: str
    status: str = "published"


def _fps(setup, device, accelerator, runtime, precision, fps, ms, power_w=None, power_note=None):
    return PublishedFigure(setup, device, accelerator, runtime, precision, fps, ms, power_w,
                           power_note, STERCKVAL_2019)


def _coral(setup, device, accelerator, ms, source=CORAL_BENCHMARKS):
    return PublishedFigure(setup, device, accelerator, "TFLite", "int8", round(1000 / ms, 1), ms,
                           None, None, source)


PUBLISHED: tuple[PublishedFigure, ...] = (
    _fps("i7-4870HQ", "MacBook Pro 2014 (i7-4870HQ)", None, "Keras", "fp32", 10, 100),
    _fps("i7-7700K + GTX1080 2560CUDA", "Desktop i7-7700K + GTX 1080", "GTX 1080", "Keras (GPU)", "fp32",
         304, 3.3, 180, "GTX 1080 maximum board power, as quoted"),
    _fps("i7-7700K (tflite)", "Desktop i7-7700K", None, "TFLite", "int8", 32, 31),
    _fps("i7-7700K + Coral (tflite)", "Desktop i7-7700K + Coral USB (USB 3)", "Coral USB Accelerator",
         "TFLite + Edge TPU", "int8", 351, 2.8, 2.5, "Coral USB Accelerator rated power"),
    _fps("Jetson Nano 128CUDA", "Jetson Nano", "128-core Maxwell GPU", "Keras (GPU)", "fp32", 11, 88,
         12.5, "Jetson Nano short-term average never above its 12.5 W supply"),
    _fps("Jetson Nano (tflite)", "Jetson Nano", None, "TFLite", "int8", 10, 100),
    _fps("RPi", "Raspberry Pi 3B+", None, "Keras", "fp32", 1.5, 650),
    _fps("RPi (tflite)", "Raspberry Pi 3B+", None, "TFLite", "int8", 3.4, 295),
    _fps("Rpi + Coral (tflite)", "Raspberry Pi 3B+ + Coral USB (USB 2.0)", "Coral USB Accelerator",
         "TFLite + Edge TPU", "int8", 74, 13.5, 2.5, "Coral USB Accelerator rated power"),
    _fps("Jetson Nano + Coral (tflite)", "Jetson Nano + Coral USB (USB 3)", "Coral USB Accelerator",
         "TFLite + Edge TPU", "int8", 222, 4.5, 2.5, "Coral USB Accelerator rated power"),
    _coral("Coral: desktop CPU", "Desktop Xeon (Coral table)", None, 51),
    _coral("Coral: desktop CPU + USB Accelerator (USB 3.0)", "Desktop Xeon + Coral USB (Coral table)",
           "Coral USB Accelerator", 2.6),
    _coral("Coral: embedded CPU (Cortex-A53)", "Cortex-A53 (Coral table)", None, 122),
    _coral("Coral: Dev Board (Edge TPU)", "Coral Dev Board", "Edge TPU", 2.6),
)


def published(source_contains: str | None = None) -> list[PublishedFigure]:
    """The reference figures, optionally only those whose citation contains a string."""
    return [f for f in PUBLISHED if source_contains is None or source_contains in f.source]
