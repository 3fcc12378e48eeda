"""The zoo's person detector exported as a user would (.pt2 and ONNX), run by edgebench beside the
zoo's own variants of the same weights (issue 27, "Must show"): per CPU target, the median
latency and the int8 check's box agreement with the float model, and, for the fp32 variants, the
largest difference of the raw head output between a user's export and the zoo's variant.

1. The zoo's torch module is built as edgebench builds it (the zoo entry's torch-fp32 artifact,
   `edgebench.arch.torch_module.load_torch_module`).
2. It is exported into a temporary folder exactly as a user would:
   `torch.export.save(torch.export.export(m, (x,)), "det.pt2")` and
   `torch.onnx.export(m, (x,), "det.onnx", dynamo=True)`.
3. A calibration folder is made of photos with people: the ImageNet dev photos
   (../shared/data/imagenet-sample-dev) in which the float detector finds a person (score >= 0.5).
4. `edgebench.bench.execute.run` times the zoo model, the .pt2 and the .onnx on every CPU target
   that reads each, alternating zoo / .pt2 / .onnx in each round so that the shared machine's load
   falls on all three alike (`uptime`'s load average is printed with every timing). The own files
   are calibrated with `--calibration DIR --preprocess inception` (the graph's own pixel scaling,
   which a user who exported it knows); the zoo's int8 variants are prepared on the same folder,
   as `edgebench models prepare ssdlite_mobilenet_v2_person --calibration DIR` builds them.

    PYTHONPATH=. python -m benchmarks.own_detector [--rounds 2] [--runs 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

ZOO_NAME = "ssdlite_mobilenet_v2_person"
DEV_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample-dev"
CPU_TARGETS = ("litert-fp32", "litert-int8", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32",
               "openvino-int8", "torch-fp32")
PERSON_SCORE = 0.5


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def zoo_module():
    """The zoo detector's torch module, as edgebench's torch runtime builds it."""
    from edgebench.arch.torch_module import load_torch_module
    from edgebench.models.source import open_source

    artifact = open_source(ZOO_NAME).artifact_for("torch-fp32", "fp32", ("torch",))
    return load_torch_module(artifact.arch, artifact.path, artifact.arch_kwargs)


def export_as_a_user(module, folder: Path) -> tuple[Path, Path]:
    import torch

    x = torch.zeros(1, 3, 300, 300)
    pt2, onnx = folder / "det.pt2", folder / "det.onnx"
    torch.export.save(torch.export.export(module, (x,)), str(pt2))
    torch.onnx.export(module, (x,), str(onnx), dynamo=True, external_data=False, verbose=False)
    return pt2, onnx


def person_photos(module, folder: Path, wanted: int) -> Path:
    """A calibration folder of the dev photos in which the float detector finds a person."""
    import torch

    from edgebench.models.images import load_image, stretch_float_nchw
    from edgebench.models.zoo import get_model

    prep = get_model(ZOO_NAME).preprocessing
    folder.mkdir(parents=True, exist_ok=True)
    kept = 0
    with torch.inference_mode():
        for photo in sorted(DEV_PHOTOS.glob("*.JPEG")):
            head = module(torch.from_numpy(stretch_float_nchw(load_image(photo), prep, (300, 300))))
            if float(head[0, :, 5].max()) >= PERSON_SCORE:   # the sigmoid person score per anchor
                (folder / photo.name).symlink_to(photo)
                kept += 1
                if kept == wanted:
                    break
    print(f"calibration: {kept} dev photos in which the float detector finds a person ({folder})")
    return folder


def calibrated_zoo(calibration: Path) -> None:
    """Let `run` open the zoo detector with its variants prepared on `calibration` (as `models
    prepare NAME --calibration DIR` does; `run` itself takes --calibration for own files only)."""
    from edgebench.bench import plan
    from edgebench.models.prepare import Preparer

    opened = plan.open_source

    def open_source(model, allow_download=True, on_step=None, calibration_dir=None, preprocess="auto"):
        source = opened(model, allow_download, on_step, calibration_dir, preprocess)
        if model == ZOO_NAME:
            source.preparer = Preparer(source.spec, allow_download=allow_download, on_step=on_step,
                                       calibration=calibration)
        return source

    plan.open_source = open_source


class LoadAtEachTarget:
    """RunEvents that note the load average as each target's timing ends."""

    def __init__(self):
        self.loads: dict[str, str] = {}

    def prepare_step(self, message: str) -> None: pass
    def prepared(self) -> None: pass
    def target_started(self, target: str, runs: int) -> None: pass
    def target_progress(self, target: str, done: int, total: int) -> None: pass

    def target_finished(self, result) -> None:
        self.loads[result.target] = load()


def timed(model: str, calibration: Path | None, runs: int, threads: int, targets=CPU_TARGETS):
    from edgebench.bench.config import RunConfig
    from edgebench.bench.execute import run
    from edgebench.protocol import Protocol

    own = model != ZOO_NAME
    config = RunConfig(model=model, targets=targets, threads=threads,
                       protocol=Protocol(name="own-detector", warmup=3, runs=runs, settle_s=0.0),
                       calibration=calibration if own else None, preprocess="inception" if own else "auto")
    events = LoadAtEachTarget()
    return run(config, events), events.loads


def torch_sessions(models: dict[str, str], calibration: Path, rounds: int, runs: int = 20) -> None:
    """torch-fp32 of the zoo and of the .pt2, side by side in this process (frozen, 1 thread):
    their TorchScript graphs' operators, and wall and CPU time per inference, alternating."""
    import time
    from collections import Counter
    from dataclasses import replace

    from edgebench.bench.plan import open_source
    from edgebench.runtimes.base import load_runtime

    runtime = load_runtime("torch")
    options = replace(runtime.options_type.build("torch", {}, device="cpu", precision="fp32"), threads=1)
    sessions = {}
    for label in ("zoo", ".pt2"):
        own = label != "zoo"
        source = open_source(models[label], True, None, calibration if own else None, "inception" if own else "auto")
        sessions[label] = runtime.load(source.artifact_for("torch-fp32", "fp32", ("torch",)), options)
    graphs = {label: Counter(n.kind() for n in s._module.graph.nodes()) for label, s in sessions.items()}
    print(f"\ntorch-fp32 frozen graphs: same operators and counts: {graphs['zoo'] == graphs['.pt2']} "
          f"({sum(graphs['zoo'].values())} nodes; convolutions {graphs['zoo']['prim::mkldnn_convolution']} / "
          f"{graphs['.pt2']['prim::mkldnn_convolution']})")
    x = np.zeros((1, 3, 300, 300), np.float32)
    for round_ in range(1, rounds + 1):
        for label, session in sessions.items():
            session.set_input(x)
            for _ in range(3):
                session.invoke()
            walls = []
            cpu = time.process_time()
            for _ in range(runs):
                started = time.perf_counter()
                session.invoke()
                walls.append((time.perf_counter() - started) * 1000)
            cpu_ms = (time.process_time() - cpu) / runs * 1000
            print(f"  round {round_} {label:5s} torch-fp32: wall median {np.median(walls):.1f} ms, "
                  f"CPU {cpu_ms:.1f} ms per inference, {load()}", flush=True)
    for session in sessions.values():
        session.close()


def box_agreement(result) -> str:
    """The int8 check's figure as edgebench records it: mean box F1 against the float file."""
    entry = ((result.int8_check or {}).get("by_runtime") or {}).get(result.runtime)
    if not entry:
        return ""
    if "box_agreement" not in entry:
        return entry.get("error", "no sample with objects")[:60]
    return f"F1 {entry['box_agreement']:.3f} (least {entry['box_agreement_min']:.2f}, {entry['samples_with_objects']} samples)"


def raw_outputs(model: str, calibration: Path | None, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """Each fp32 CPU target's raw head for one photo, from the artifact `run` timed."""
    from dataclasses import replace

    from edgebench.bench.plan import open_source
    from edgebench.models.images import to_input
    from edgebench.runtimes.base import TARGETS, load_runtime

    own = model != ZOO_NAME
    source = open_source(model, True, None, calibration if own else None, "inception" if own else "auto")
    outputs = {}
    for name in CPU_TARGETS:
        target = TARGETS[name]
        if target.source_precision != "fp32":
            continue
        runtime = load_runtime(target.runtime_key)
        if not source.applies("fp32", runtime.formats):   # an ONNX file has no torch variant
            continue
        artifact = source.artifact_for(name, "fp32", runtime.formats)
        options = runtime.options_type.build(runtime.name, {}, device="cpu", precision="fp32")
        session = runtime.load(artifact, replace(options, threads=1))
        try:
            session.set_input(to_input(x_nchw, session.input_spec))
            session.invoke()
            outputs[name] = np.asarray(session.output(), dtype=np.float32).reshape(-1, 6)
        finally:
            session.close()
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--torch-rounds", type=int, default=4, help="alternating torch-fp32 zoo / .pt2 timings")
    args = parser.parse_args()
    if not DEV_PHOTOS.is_dir():
        raise SystemExit(f"{DEV_PHOTOS} is not present")
    from edgebench.models.images import load_image, stretch_float_nchw
    from edgebench.models.zoo import get_model

    module = zoo_module()
    with tempfile.TemporaryDirectory(prefix="own-detector-") as tmp:
        folder = Path(tmp)
        pt2, onnx = export_as_a_user(module, folder)
        calibration = person_photos(module, folder / "calibration", args.photos)
        calibrated_zoo(calibration)
        models = {"zoo": ZOO_NAME, ".pt2": str(pt2), ".onnx": str(onnx)}
        medians: dict[tuple[str, str], list[float]] = {}
        checks: dict[tuple[str, str], str] = {}
        artifacts: dict[tuple[str, str], str] = {}
        for round_ in range(1, args.rounds + 1):
            for label, model in models.items():
                print(f"round {round_}, {label}: start, {load()}", flush=True)
                result, loads = timed(model, calibration, args.runs, args.threads)
                for r in result.results:
                    if r.status != "ok":
                        checks.setdefault((label, r.target), f"{r.status}: {(r.error or '')[:70]}")
                        print(f"  {r.target}: {r.status} {r.error}", flush=True)
                        continue
                    medians.setdefault((label, r.target), []).append(r.latency_ms.median)
                    checks[(label, r.target)] = box_agreement(r)
                    artifacts[(label, r.target)] = (r.artifact or {}).get("sha256", "")[:12]
                    print(f"  {r.target}: median {r.latency_ms.median:.2f} ms (min {r.latency_ms.min:.2f}), "
                          f"{loads.get(r.target, load())}, file {artifacts[(label, r.target)]}  "
                          f"{checks[(label, r.target)]}", flush=True)
        torch_sessions(models, calibration, args.torch_rounds)
        photo = min(calibration.iterdir())
        x = stretch_float_nchw(load_image(photo), get_model(ZOO_NAME).preprocessing, (300, 300))
        raw = {label: raw_outputs(model, calibration, x) for label, model in models.items()}
    print(f"\n| target | {' | '.join(f'{m}: median ms / int8 box agreement' for m in models)} |")
    print("|---|" + "---|" * len(models))
    for target in CPU_TARGETS:
        cells = []
        for label in models:
            values = medians.get((label, target))
            speed = " / ".join(f"{v:.1f}" for v in values) if values else "-"
            if values and artifacts.get((label, target)):
                speed += f" (file {artifacts[(label, target)]})"
            check = checks.get((label, target), "")
            cells.append(f"{speed}{' / ' + check if check and values else (' ' + check if check else '')}")
        print(f"| {target} | {' | '.join(cells)} |")
    print(f"\nraw head (1917 x 6) on {photo.name}, max |own - zoo| per fp32 target:")
    for target, zoo_out in raw["zoo"].items():
        for label in (".pt2", ".onnx"):
            if target in raw[label]:
                print(f"  {target} {label}: {float(np.abs(raw[label][target] - zoo_out).max()):.3g}")
    print(f"end, {load()}")


if __name__ == "__main__":
    main()
