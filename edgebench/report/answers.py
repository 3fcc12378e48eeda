"""What a run's model answered, drawn over the run's photo: boxes with labels, keypoints and
their skeleton, or the class map, for tasks whose answers are positions in the photo. The
answer drawn is the float reference's (else the first target's that ran), as stored."""

from __future__ import annotations

import base64
from pathlib import Path

from edgebench.results.schema import RunResult, TargetResult

DRAWN = ("detection", "pose", "segmentation")
COLOURS = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6")


def answer_figures(runs: list[RunResult]) -> dict[str, tuple[object, str]]:
    """{chart name: (figure, caption)} for each run whose answer can be drawn and whose photo is
    still readable where it was."""
    figures = {}
    for run in runs:
        shown = _shown_result(run)
        photo = Path(run.image.get("path") or "")
        if shown is None or not photo.is_file():
            continue
        try:
            figure = _draw(run, shown, photo)
        except (OSError, ValueError):   # a photo replaced or unreadable since: nothing to draw on
            continue
        caption = (f"{run.model.get('name')} (run {run.run_id[:12]}): {shown.target}'s answer on "
                   f"{photo.name}, {shown.summary or ''}; measured, as stored with the run.")
        figures[f"answer_{run.run_id[:12]}"] = (figure, caption)
    return figures


def _shown_result(run: RunResult) -> TargetResult | None:
    ok = [r for r in run.results if r.status == "ok" and r.task in DRAWN and r.answer]
    return next((r for r in ok if r.is_reference), ok[0] if ok else None)


def _draw(run: RunResult, result: TargetResult, photo: Path):
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    with Image.open(photo) as img:
        img.thumbnail((1024, 1024))
        pixels = np.asarray(img.convert("RGB"))
    height, width = pixels.shape[:2]
    fig = Figure(figsize=(8, 8 * height / width), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(pixels)
    ax.set_axis_off()
    {"detection": _boxes, "pose": _skeleton, "segmentation": _class_map}[result.task](ax, result.answer, width, height)
    return fig


def _boxes(ax, answer: dict, width: int, height: int) -> None:
    from matplotlib.patches import Rectangle

    for box in answer.get("boxes", []):
        if box["score"] < answer.get("min_score", 0.0):
            continue
        ymin, xmin, ymax, xmax = box["box"]
        colour = COLOURS[box["index"] % len(COLOURS)]
        ax.add_patch(Rectangle((xmin * width, ymin * height), (xmax - xmin) * width, (ymax - ymin) * height,
                               fill=False, edgecolor=colour, linewidth=2.5))
        right = xmin > 0.5   # a box on the right half is labelled from its right edge, kept in the picture
        ax.text((xmax if right else xmin) * width, ymin * height, f"{box['label']} {box['score']:.2f}",
                color="black", fontsize=10, va="bottom", ha="right" if right else "left",
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})


def _skeleton(ax, answer: dict, width: int, height: int) -> None:
    from edgebench.tasks.pose import COCO_SKELETON

    points = answer.get("keypoints", [])
    if len(points) == 17:
        for a, b in COCO_SKELETON:
            ax.plot([points[a][1] * width, points[b][1] * width], [points[a][0] * height, points[b][0] * height],
                    color="#46f0f0", linewidth=3)
    ax.scatter([p[1] * width for p in points], [p[0] * height for p in points], s=30, color="#ffe119", zorder=3)


def _class_map(ax, answer: dict, width: int, height: int) -> None:
    import numpy as np
    from matplotlib.colors import ListedColormap

    stored = answer.get("map")
    if not stored:
        return
    rows, cols = stored["shape"]
    classes = np.frombuffer(base64.b64decode(stored["classes"]), np.uint8).reshape(rows, cols)
    masked = np.ma.masked_where(classes == 0, classes % len(COLOURS))   # class 0 (background) left clear
    ax.imshow(masked, cmap=ListedColormap(COLOURS), vmin=0, vmax=len(COLOURS) - 1, alpha=0.45,
              extent=(0, width, height, 0), interpolation="nearest")
