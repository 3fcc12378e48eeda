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

  persons/   3 photos with every person boxed by hand for this project (approximate to ~10 px;
             people cut by the frame boxed to the edge) and the bus: scikit-image's astronaut.png
             (NASA, public domain) from the installed scikit-image, and Ultralytics' bus.jpg and
             zidane.jpg (shipped in the ultralytics wheel, AGPL-3.0), taken from an installed
             ultralytics or from its wheel (--ultralytics-wheel, e.g. after `pip download --no-deps
             ultralytics`). 7 persons, 1 bus; categories use COCO's ids (person 1, bus 6).

No PyPI package was found that ships COCO val images together with their annotations
(see RESULTS.md for what was searched), so there is no COCO-val subset here.

    python -m benchmarks.accuracy_sets OUT_DIR [--shapes 40] [--ultralytics-wheel WHEEL]
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


def _box(x0, y0, x1, y1):
    return [x0, y0, x1 - x0, y1 - y0]


# (file, width, height, person boxes as corners x0, y0, x1, y1 in the photo's pixels)
PERSONS = [("bus.jpg", 810, 1080, [(55, 398, 239, 900), (222, 407, 342, 861), (667, 395, 810, 878), (0, 555, 78, 867)]),
           ("zidane.jpg", 1280, 720, [(128, 203, 1150, 720), (753, 42, 1136, 720)]),
           ("astronaut.png", 512, 512, [(19, 17, 367, 512)])]
BUS = (20, 228, 800, 700)   # in bus.jpg


def persons(out: Path, ultralytics_wheel: Path | None = None) -> Path:
    import importlib.util
    import zipfile

    folder = out / "persons"
    folder.mkdir(parents=True, exist_ok=True)
    skimage = Path(importlib.util.find_spec("skimage").origin).parent
    shutil.copy(skimage / "data" / "astronaut.png", folder / "astronaut.png")
    spec = importlib.util.find_spec("ultralytics")
    for name in ("bus.jpg", "zidane.jpg"):
        if spec is not None:
            shutil.copy(Path(spec.origin).parent / "assets" / name, folder / name)
        elif ultralytics_wheel is not None:
            (folder / name).write_bytes(zipfile.ZipFile(ultralytics_wheel).read(f"ultralytics/assets/{name}"))
        else:
            raise SystemExit("persons: install ultralytics or pass --ultralytics-wheel (pip download --no-deps ultralytics)")
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}, {"id": 6, "name": "bus"}]}
    for image_id, (name, width, height, boxes) in enumerate(PERSONS, start=1):
        data["images"].append({"id": image_id, "file_name": name, "width": width, "height": height})
        labelled = [(1, _box(*corners)) for corners in boxes] + ([(6, _box(*BUS))] if name == "bus.jpg" else [])
        for category, box in labelled:
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": image_id,
                                        "category_id": category, "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    (folder / "instances.json").write_text(json.dumps(data, indent=1))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shapes", type=int, default=40, help="synthetic images to draw")
    parser.add_argument("--ultralytics-wheel", type=Path, help="where bus.jpg and zidane.jpg come from, "
                        "when ultralytics is not installed")
    args = parser.parse_args()
    print(traffic(args.out))
    print(shapes(args.out, args.shapes))
    print(persons(args.out, args.ultralytics_wheel))


if __name__ == "__main__":
    main()
