"""Build the labelled sets that RESULTS.md's "Accuracy per task" section scores, from files
already on this machine (nothing is downloaded, no image is committed):

  traffic/   Coral's AutoML traffic frame (../shared/fixtures/coral-zoo/traffic_0001.bmp, Apache-2.0)
             with COCO-format boxes for its three vehicles, drawn by hand for this project from
             the picture (approximate to 2-3 pixels; the right-hand white car is cut by the frame
             and judged a sedan). They are our labels, not Google's: 1 image, 3 boxes.
  shapes/    N synthetic 160x160 images with 1-3 filled rectangles in red, green or blue, and
             their boxes: the labels are exact because the script drew the rectangles. Category
             names are tests/task_models.py's CLASSES, so its seeded (untrained) ONNX detector can
             be scored on every ONNX-reading target: a plumbing check, not a model's accuracy.

No PyPI package was found that ships COCO val images together with their annotations
(see RESULTS.md for what was searched), so there is no COCO-val subset here.

    python -m benchmarks.accuracy_sets OUT_DIR [--shapes 40]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ZOO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "coral-zoo"
SHAPE_CLASSES = ("red thing", "green thing", "blue thing")
COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 230))

# x, y, width, height in traffic_0001.bmp's 256x256 pixels
TRAFFIC_BOXES = [("sedan", [52, 150, 71, 46]),            # the dark saloon, left
                 ("pickup_suv_van", [211, 145, 45, 45]),  # the dark pickup, right (cut by the frame)
                 ("sedan", [235, 181, 21, 37])]           # the white car, bottom right (cut by the frame)


def traffic(out: Path) -> Path:
    folder = out / "traffic"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ZOO / "traffic_0001.bmp", folder / "traffic_0001.bmp")
    names = [line.strip() for line in (ZOO / "traffic_labels.txt").read_text().splitlines() if line.strip()]
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
    ids = {c["name"]: c["id"] for c in categories}
    data = {"info": {"description": "traffic_0001.bmp, boxes drawn by hand for edgebench (approximate)"},
            "images": [{"id": 1, "file_name": "traffic_0001.bmp", "width": 256, "height": 256}],
            "categories": categories,
            "annotations": [{"id": k + 1, "image_id": 1, "category_id": ids[name], "bbox": box,
                             "area": box[2] * box[3], "iscrowd": 0} for k, (name, box) in enumerate(TRAFFIC_BOXES)]}
    (folder / "instances.json").write_text(json.dumps(data, indent=1))
    (folder / "labels.txt").write_text("\n".join(names) + "\n")
    return folder


def shapes(out: Path, count: int, seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image, ImageDraw

    folder = out / "shapes"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        picture = Image.new("RGB", (160, 160), tuple(int(v) for v in rng.integers(90, 160, 3)))
        draw = ImageDraw.Draw(picture)
        for _ in range(int(rng.integers(1, 4))):
            cls = int(rng.integers(0, 3))
            w, h = (int(v) for v in rng.integers(16, 64, 2))
            x, y = int(rng.integers(0, 160 - w)), int(rng.integers(0, 160 - h))
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[cls])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cls + 1,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        name = f"shape_{image_id:03d}.png"
        picture.save(folder / name)
        images.append({"id": image_id, "file_name": name, "width": 160, "height": 160})
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(SHAPE_CLASSES)]}
    (folder / "instances.json").write_text(json.dumps(data))
    (folder / "labels.txt").write_text("\n".join(SHAPE_CLASSES) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shapes", type=int, default=40, help="synthetic images to draw")
    args = parser.parse_args()
    print(traffic(args.out))
    print(shapes(args.out, args.shapes))


if __name__ == "__main__":
    main()
