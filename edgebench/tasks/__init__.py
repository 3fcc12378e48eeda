"""Tasks: what a model's outputs mean. An explicit registry of import paths (naming a task never
imports another), and the rule that infers a file's task from its tensors.

Adding a task: one module with a class following `edgebench.tasks.base.Task`, one line in
TASKS, one test (tests/test_tasks.py is parametrized over this registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.packages import load_object
from edgebench.tensors import TensorSpec

TASKS: dict[str, str] = {
    "classification": "edgebench.tasks.classification:Classification",
    "detection": "edgebench.tasks.detection:Detection",
    "segmentation": "edgebench.tasks.segmentation:Segmentation",
    "pose": "edgebench.tasks.pose:Pose",
    "embedding": "edgebench.tasks.embedding:Embedding",
    "generic": "edgebench.tasks.generic:Generic",
}
TASK_CHOICES = ("auto", *TASKS)


def get_task(name: str):
    """An instance of the task registered under name (KeyError for an unknown name)."""
    return load_object(TASKS[name])()


@dataclass(frozen=True)
class Inferred:
    task: str
    reason: str


def infer_task(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
               label_counts: tuple[int, ...] = (1000, 1001)) -> Inferred:
    """The task a model's tensors say it does, and why. label_counts: class counts that have
    names (ImageNet's, the user's --labels, the model's own)."""
    from edgebench.tasks.classification import class_count
    from edgebench.tasks.detection import postprocess_outputs, raw_head
    from edgebench.tasks.inputs import image_input, image_problem
    from edgebench.tasks.pose import keypoint_count
    from edgebench.tasks.segmentation import map_layout

    if image_problem(inputs) is not None:
        return Inferred("generic", "no input is an image of a fixed size: seeded random inputs, raw outputs")
    if postprocess_outputs(outputs) is not None:
        return Inferred("detection", "outputs are TFLite's detection post-processing (boxes, classes, scores, count)")
    size = inputs[image_input(inputs)].image_size
    one = outputs[0] if len(outputs) == 1 else None
    described = f"output {one.name} {list(one.shape)}" if one is not None else ""
    if one is not None and map_layout(one) and _same_grid(one, map_layout(one), size):
        return Inferred("segmentation", f"{described} is a per-pixel map on the input's grid")
    if (head := raw_head(outputs)) is not None:
        spec = outputs[head[0]]
        return Inferred("detection", f"output {spec.name} {list(spec.shape)} is a raw detection head ({head[1]})")
    if one is not None and keypoint_count(one):
        return Inferred("pose", f"{described} holds {keypoint_count(one)} (y, x, score) keypoints")
    if one is not None and map_layout(one):
        return Inferred("segmentation", f"{described} is a per-pixel map")
    if one is not None and (n := class_count(one)) is not None:
        if n in label_counts:
            return Inferred("classification", f"{described} holds {n} scores, a known label set")
        return Inferred("embedding", f"{described} is a {n}-d vector that matches no label set (give --labels "
                                     "FILE or --task classification to read it as class scores)")
    return Inferred("generic", "the outputs match no task: compared as raw tensors")


def _same_grid(spec: TensorSpec, layout: str, size: tuple[int, int]) -> bool:
    """Whether a map's height/width are the input's, or the input's divided by one stride."""
    shape = spec.shape
    hw = shape[1:3] if layout in ("map", "nhwc") else shape[2:4]
    return any(abs(hw[0] * s - size[0]) <= s and abs(hw[1] * s - size[1]) <= s for s in (1, 2, 4, 8, 16, 32))


# Names other tools (and hub cards, zoo entries) give tasks, mapped to edgebench's.
_ALIASES = {"image-classification": "classification", "object-detection": "detection",
            "semantic-segmentation": "segmentation", "image-segmentation": "segmentation",
            "pose-estimation": "pose", "keypoints": "pose", "keypoint-detection": "pose",
            "feature-extraction": "embedding", "image-feature-extraction": "embedding"}


def task_key(text: str | None) -> str | None:
    """edgebench's name for a task named in a card or spec ("image-classification"), or None."""
    if not text:
        return None
    text = text.strip().lower()
    return text if text in TASKS else _ALIASES.get(text)
