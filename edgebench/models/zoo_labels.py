"""A zoo entry's class names: its own (a retrained model's), a pinned label file it names (fetched
like weights), or a set built in (ImageNet, COCO's 90 ids, PASCAL VOC, COCO's keypoints)."""

from __future__ import annotations

from collections.abc import Callable


def builtin_set(name: str) -> tuple[tuple[str, ...], str] | None:
    """(names, what they are) of a label set named in a zoo entry, None for an unknown name."""
    from edgebench.tasks.labels import COCO_90, VOC_21, label_set_name, labels_for
    from edgebench.tasks.pose import COCO_KEYPOINTS

    if name in ("imagenet1k", "imagenet1001"):
        count = 1001 if name == "imagenet1001" else 1000
        return labels_for(count), label_set_name(count)
    named = {"coco90": (COCO_90, "COCO (90 ids, as TensorFlow's detectors number them)"),
             "voc21": (VOC_21, "PASCAL VOC (21 classes)"),
             "coco_keypoints": (COCO_KEYPOINTS, "COCO's 17 keypoints")}
    return named.get(name)


def spec_labels(spec, *, allow_download: bool = True,
                notify: Callable[[str], None] = print) -> tuple[tuple[str, ...], str]:
    """The class names a zoo entry gives its outputs, and what they are. A label file is fetched
    (announced, pins checked) unless allow_download is off, when it must be cached already."""
    if spec.class_names:
        return tuple(spec.class_names), f"{spec.name}'s own {len(spec.class_names)} classes"
    if spec.label_file is not None:
        from edgebench.models.weights import resolve_weights
        from edgebench.tasks.labels import read_labels

        path = resolve_weights(spec.label_file, allow_download=allow_download, notify=notify)
        names = read_labels(path).names
        return names, f"{spec.label_file.filename} ({len(names)} names)"
    found = builtin_set(spec.labels)
    if found is None:
        raise ValueError(f"zoo entry {spec.name} names an unknown label set {spec.labels!r}")
    return found
