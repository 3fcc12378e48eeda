"""The Task protocol: what a model's outputs mean, and how two targets' answers are compared.

A task is an extension point like a runtime: one module per task, registered by import path in
`edgebench.tasks.TASKS`. Timing never depends on the task: the runner times set_input + invoke +
output whatever they hold; the task only builds the inputs beforehand and reads the outputs after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from edgebench.tensors import TensorSpec

if TYPE_CHECKING:  # numpy stays out of `edgebench --help`
    import numpy as np

# An image already resized, normalised, laid out and quantized for one input spec.
ImageFor = Callable[[TensorSpec], "np.ndarray"]


@dataclass(frozen=True)
class Labels:
    """Class names of a model's outputs and where they came from ("ImageNet (1000)", a file)."""

    names: tuple[str, ...] = ()
    source: str = "none"

    def name(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) and self.names[index] else f"class {index}"


@dataclass(frozen=True)
class Context:
    """What decoding needs beside the outputs: class names, the image input's (height, width)
    in pixels (None without one), and the photo's (width, height) (None without a photo).
    min_score: the lowest score a detector's box is kept from (None: the task's own floor);
    scoring against ground truth keeps more, since AP counts the low-confidence boxes too."""

    labels: Labels = Labels()
    input_size: tuple[int, int] | None = None
    photo_size: tuple[int, int] | None = None
    min_score: float | None = None


@dataclass(frozen=True)
class Agreement:
    """How far a target's answer is from the float reference's: one figure (metric, value), the
    threshold it must reach to count as agreeing, and supporting figures."""

    metric: str
    value: float
    threshold: float
    passed: bool
    figures: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"metric": self.metric, "value": round(float(self.value), 6),
                "threshold": self.threshold, "passed": bool(self.passed),
                "figures": {k: round(float(v), 6) for k, v in self.figures.items()}}


@dataclass(frozen=True)
class Broken:
    """The answer of a target whose outputs hold NaN or infinite values: nothing a task can read.
    Its timing stands; it agrees with no reference."""

    problems: tuple[str, ...]
    task: str = "broken"

    def record(self) -> dict:
        return {"broken": list(self.problems)}

    def summary(self) -> str:
        return "no answer: " + "; ".join(self.problems)


def nonfinite(outputs: tuple, specs) -> tuple[str, ...]:
    """'output y: 1000 NaN' for each float output that holds NaN or infinite values."""
    import numpy as np

    problems = []
    for array, spec in zip(outputs, specs):
        array = np.asarray(array)
        if array.dtype.kind != "f" or array.size == 0:
            continue
        nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        if nan or inf:
            counts = ", ".join(f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "infinite")) if n)
            problems.append(f"output {spec.name}: {counts} of {array.size} values")
    return tuple(problems)


def summary_of(task, answer) -> str:
    """The one-line answer: the task's, or why there is none."""
    return answer.summary() if isinstance(answer, Broken) else task.summary(answer)


def agreement_of(task, answer, reference) -> Agreement:
    """The task's agreement, or a failed one when either side has no answer (broken outputs)."""
    if isinstance(answer, Broken) or isinstance(reference, Broken):
        whose = "its" if isinstance(answer, Broken) else "the reference's"
        return Agreement(f"finite outputs ({whose} hold NaN or infinity)", 0.0, 1.0, False)
    return task.agreement(answer, reference)


class Answer(Protocol):
    """A decoded prediction. record() is what results store (small, JSON); the object itself
    keeps what agreement needs (full maps, vectors, tensors) for the length of a run."""

    task: str

    def record(self) -> dict: ...


class Task(Protocol):
    """One kind of model output.

    name: the registry key. uses_image: whether inputs come from a photo. geometry: how a photo
    becomes the image input, "crop" (resize the shorter side, centre-crop: classifiers) or
    "stretch" (the whole photo resized to the input: coordinates stay relative to the photo).
    threshold_text: how agreement is judged, said under the run table and stored.

    problem(inputs, outputs) -> None when the model's tensors fit the task, else why not (one
    line, naming the tensor). classes(outputs) -> how many classes the outputs name, when they
    say (label files are checked against it). inputs(specs, image_for) -> the tensors to feed (one array for a
    single input, else a tuple in spec order), built before timing. decode(outputs, specs,
    context) -> Answer from the outputs of one inference (a tuple, in output spec order).
    agreement(answer, reference) -> Agreement. score(answer, label) -> a figure in [0, 1]
    against a ground-truth label of this task's kind. summary(answer) -> the one-line answer of
    the run screen. overlay(answer) -> JSON that the preview page draws over the frame.
    """

    name: ClassVar[str]
    uses_image: ClassVar[bool]
    geometry: ClassVar[str]
    threshold_text: ClassVar[str]

    def problem(self, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> str | None: ...
    def inputs(self, specs: tuple[TensorSpec, ...], image_for: ImageFor | None): ...
    def classes(self, outputs: tuple[TensorSpec, ...]) -> int | None: ...
    def decode(self, outputs: tuple, specs: tuple[TensorSpec, ...], context: Context) -> Answer: ...
    def agreement(self, answer: Answer, reference: Answer) -> Agreement: ...
    def score(self, answer: Answer, label) -> float: ...
    def summary(self, answer: Answer) -> str: ...
    def overlay(self, answer: Answer) -> dict: ...
