"""One model session shared by every client of a preview.

Sessions are not thread-safe, so the session lives on one worker thread of its own: it is opened,
run and closed there, one inference at a time. Decoding and preprocessing (PIL, numpy) run on a
small pool beside it, so one client's JPEG is decoded while another's frame is on the model.

Fairness: each client has at most one frame in flight (the server drops the rest), and frames
reach the session thread in arrival order; so with N clients a frame waits for at most N - 1
others, and every client gets the same share of the model.
"""

from __future__ import annotations

import asyncio
import io
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from edgebench.preview.protocol import BAD_IMAGE, TOO_LARGE, Frame, ProtocolError

RECENT = 200   # inferences kept for the live median


@dataclass
class Classified:
    """One frame's answer: top-5 as dicts (a classifier's; else empty), where its time went
    (ms), the frame's size, and the task's answer: its one line and what the page draws."""

    top5: list[dict]
    ms: dict[str, float]
    image_size: tuple[int, int]
    answer: dict = field(default_factory=dict)


@dataclass
class EngineStats:
    served: int = 0
    failed: int = 0
    inference_ms: deque = field(default_factory=lambda: deque(maxlen=RECENT))

    def median_inference_ms(self) -> float | None:
        return round(statistics.median(self.inference_ms), 3) if self.inference_ms else None


class Engine:
    """Runs the model's task on encoded images, one session shared by every client.

    open_session: called once, on the session thread. preprocessing_for(input_spec) -> a zoo
    Preprocessing (resize, crop, mean, std). labels_for(output_specs) -> tasks.base.Labels.
    task: a tasks.base.Task that reads a photo (image classification unless given).
    """

    def __init__(self, open_session: Callable[[], object], preprocessing_for: Callable,
                 labels_for: Callable, decode_workers: int = 2, task=None):
        from edgebench.tasks import get_task

        self.task = task or get_task("classification")
        if not self.task.uses_image:
            raise ValueError(f"the preview shows tasks that read a photo, not {self.task.name}")
        self._open = open_session
        self._preprocessing_for = preprocessing_for
        self.preprocessing = None
        self._labels_for = labels_for
        self._session_thread = ThreadPoolExecutor(1, thread_name_prefix="edgebench-session")
        self._decoders = ThreadPoolExecutor(decode_workers, thread_name_prefix="edgebench-decode")
        self._session = None
        self._closed = threading.Event()
        self.stats = EngineStats()
        self.labels = None                  # tasks.base.Labels
        self.label_set = ""
        self.input_spec = self.output_spec = None
        self.input_specs: tuple = ()
        self.output_specs: tuple = ()
        self.settings: dict = {}
        self.load_s: float | None = None
        self.warmup_ms: float | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> Engine:
        """Open the session on its thread and run one warm-up inference (the first is slow)."""
        import numpy as np

        started = time.perf_counter()
        self._session = self._session_thread.submit(self._open).result()
        self.load_s = round(time.perf_counter() - started, 3)
        from edgebench.tasks.inputs import image_input
        from edgebench.tensors import input_specs, output_specs

        self.input_specs, self.output_specs = input_specs(self._session), output_specs(self._session)
        problem = self.task.problem(self.input_specs, self.output_specs)
        if problem is not None:
            from edgebench.errors import TargetUnavailable

            raise TargetUnavailable(f"{problem} (read as {self.task.name})")
        self.input_spec = self.input_specs[image_input(self.input_specs)]
        self.output_spec = self.output_specs[0]
        self.settings = dict(getattr(self._session, "settings", {}) or {})
        self.preprocessing = self._preprocessing_for(self.input_spec)
        self._prep = FramePrep(self.preprocessing, self.input_spec, self.task.geometry)
        self.labels = self._labels_for(self.output_specs)
        self.label_set = self.labels.source
        blank = np.zeros(self.input_spec.shape, np.dtype(self.input_spec.dtype))
        _, _, self.warmup_ms = self._session_thread.submit(self._infer, blank).result()
        return self

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._session is not None:
            self._session_thread.submit(self._session.close).result()
            self._session = None
        self._session_thread.shutdown(wait=True)
        self._decoders.shutdown(wait=True)

    # -- work ----------------------------------------------------------------------------------
    async def classify(self, frame: Frame, max_pixels: int) -> Classified:
        """Decode, preprocess, infer, read the answer. ProtocolError for an image that cannot be used."""
        from edgebench.tasks.base import Context

        loop = asyncio.get_running_loop()
        received = time.perf_counter()
        x, size, decode_ms, preprocess_ms = await loop.run_in_executor(
            self._decoders, self._decode_and_prepare, frame, max_pixels)
        queued = time.perf_counter()
        output, started, inference_ms = await loop.run_in_executor(self._session_thread, self._infer, x)
        post_started = time.perf_counter()
        from edgebench.tensors import as_tuple

        answer = self.task.decode(as_tuple(output), self.output_specs,
                                  Context(self.labels, self.input_spec.image_size, size))
        top5 = answer.record().get("top5", [])
        described = {"task": self.task.name, "summary": self.task.summary(answer),
                     "overlay": self.task.overlay(answer)}
        done = time.perf_counter()
        self.stats.served += 1
        self.stats.inference_ms.append(inference_ms)
        return Classified(top5, {
            "decode": decode_ms, "preprocess": preprocess_ms,
            "wait": max(0.0, (started - queued) * 1000), "inference": inference_ms,
            "post": (done - post_started) * 1000, "server": (done - received) * 1000}, size, described)

    def classify_blocking(self, image_bytes: bytes, image_format: str, max_pixels: int = 1 << 26) -> Classified:
        """classify() for synchronous callers (tests, benchmarks)."""
        return asyncio.run(self.classify(Frame(0, image_bytes, image_format), max_pixels))

    def _infer(self, x):
        """On the session thread only: the runner's frame (set inputs, invoke, read outputs).
        x is the image input; the task adds its other inputs (a tracker's state)."""
        from edgebench.bench.runner import owned

        if self._session is None:
            raise RuntimeError("the preview's model session is closed")
        fed = self.task.inputs(self.input_specs, lambda _spec: x) if len(self.input_specs) > 1 else x
        started = time.perf_counter()
        self._session.set_input(fed)
        self._session.invoke()
        output = owned(self._session.output())  # runtimes reuse their output buffers
        return output, started, (time.perf_counter() - started) * 1000

    def _decode_and_prepare(self, frame: Frame, max_pixels: int):
        started = time.perf_counter()
        image = decode(frame.image, frame.image_format, max_pixels, self.preprocessing.resize)
        decoded = time.perf_counter()
        x = self._prep(image)
        prepared = time.perf_counter()
        return x, image.size, (decoded - started) * 1000, (prepared - decoded) * 1000


class FramePrep:
    """The benchmark's preprocessing (images.to_float_nchw, then images.to_input for the
    session's input), made cheap enough for every frame of a live feed:

    * the centre crop is resampled straight from the decoded frame (PIL's resize with a box: the
      same bilinear filter and geometry as resizing the whole frame and then cropping, on 40% of
      the pixels);
    * normalisation, layout and quantization become one table lookup per channel: a channel's
      8-bit value has only 256 possible results, computed once by the same numpy steps.

    The result equals the benchmark's to within PIL's 8-bit rounding (at most 2 quantization steps
    on a few pixels in ten thousand; tests/test_preview_unit.py checks it)."""

    def __init__(self, prep, spec, geometry: str = "crop"):
        import dataclasses

        import numpy as np

        from edgebench.models.images import to_input

        self.prep, self.spec, self.geometry = prep, spec, geometry
        values = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)[None]   # HWC, 1 x 256
        x = values / 255.0
        x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
        row = dataclasses.replace(spec, shape=(1, 3, 1, 256), layout="NCHW")
        table = to_input(np.ascontiguousarray(x.transpose(2, 0, 1)[None]), row)
        self._tables = [np.ascontiguousarray(table[0, c, 0, :]) for c in range(3)]
        self._dtype = table.dtype

    def __call__(self, image):
        import numpy as np
        from PIL import Image

        if self.geometry == "stretch":   # the whole frame, as images.stretch_float_nchw resizes it
            height, width = self.spec.image_size
            pixels = np.asarray(image.resize((width, height), Image.LANCZOS))
        else:
            pixels = self._cropped(image)
        out = np.empty(pixels.shape, self._dtype)
        for c in range(3):
            np.take(self._tables[c], pixels[..., c], out=out[..., c])
        x = out[None] if self.spec.layout == "NHWC" else out.transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x)

    def _cropped(self, image):
        """The centre crop, resampled straight from the frame."""
        import numpy as np
        from PIL import Image

        crop = self.prep.crop
        width, height = image.size
        scale = self.prep.resize / min(width, height)
        resized_w, resized_h = max(crop, round(width * scale)), max(crop, round(height * scale))
        left, top = (resized_w - crop) // 2, (resized_h - crop) // 2
        sx, sy = width / resized_w, height / resized_h
        box = (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)
        return np.asarray(image.resize((crop, crop), Image.BILINEAR, box=box))


def decode(data: bytes, image_format: str, max_pixels: int, shorter_side: int | None = None):
    """An RGB PIL image from encoded bytes of the given format. The size is read from the header
    and checked before any pixel is decoded; a JPEG is decoded at the smallest DCT scale that still
    gives `shorter_side` pixels (free speed for large photos). ProtocolError when unusable."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format])
            width, height = image.size
            if width < 1 or height < 1:
                raise ProtocolError(BAD_IMAGE, f"the image is {width}x{height} pixels")
            if width * height > max_pixels:
                raise ProtocolError(TOO_LARGE, f"the image is {width}x{height} pixels, over the limit of "
                                               f"{max_pixels / 1e6:.1f} megapixels: downscale it")
            if shorter_side and image_format == "JPEG":
                scale = shorter_side / min(width, height)
                if scale < 1:
                    image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            return image.convert("RGB")
    except ProtocolError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProtocolError(TOO_LARGE, f"the image is too large to decode: {_first_line(exc)}") from None
    except UnidentifiedImageError as exc:
        raise ProtocolError(BAD_IMAGE, f"cannot decode the {image_format} image: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - decoders fed untrusted bytes raise all sorts
        raise ProtocolError(BAD_IMAGE, f"cannot decode the {image_format} image: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else type(exc).__name__)
