"""Why a measured figure differs from a published one: for each target with a published figure
of the same model and setup class, the measured/published ratio and the causes that apply, each
with its evidence from the run's stored conditions and figures, and a measured estimate where
edgebench has one. A cause without evidence is "not checked", never assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edgebench.results.reference import PublishedFigure, published
from edgebench.results.schema import RunResult, TargetResult, sweep_label

APPLIES, NOT_APPLY, NOT_CHECKED = "applies", "does not apply", "not checked"
PUBLISHED_MODELS = ("mobilenet_v2",)     # every published figure is MobileNet v2 at 224x224
PUBLISHED_SIZE = 224
HARNESS_SHARE = 0.05                     # the loop's own cost worth naming: 5% of an inference


@dataclass(frozen=True)
class Cause:
    name: str
    verdict: str          # applies | does not apply | not checked
    evidence: str
    estimate: str | None = None


@dataclass(frozen=True)
class Gap:
    """One target against one published figure."""

    target: str
    measured_fps: float
    figure: str
    published_fps: float
    source: str
    ratio: float
    causes: list[Cause] = field(default_factory=list)
    kind: str = "published"   # published | hub (another run of the same target, from the hub)


@dataclass(frozen=True)
class Explanation:
    run_id: str
    model: str
    gaps: list[Gap]
    notes: list[str]      # targets with nothing to compare, and why

    def as_dict(self) -> dict:
        return asdict(self)


def setup_class(r: TargetResult) -> tuple[str, str, str | None] | None:
    """(runtime as published, precision, accelerator) of a target, where a published setup is of
    the same class: TFLite int8 on a CPU, TFLite int8 on an Edge TPU, Keras fp32 on a CPU."""
    if r.runtime == "edgetpu" or r.device == "edgetpu":
        return ("TFLite + Edge TPU", "int8", "Coral USB Accelerator")
    if r.runtime == "litert" and r.precision == "int8" and r.device == "cpu":
        return ("TFLite", "int8", None)
    if r.runtime.startswith("keras") and r.precision == "fp32" and r.device == "cpu":
        return ("Keras", "fp32", None)
    return None


def _device_class(run: RunResult) -> str:
    kind = (run.device.board or {}).get("kind")
    return {"raspberry-pi": "pi", "jetson": "jetson"}.get(kind, "desktop")


def _figure_class(figure: PublishedFigure) -> str:
    text = figure.device
    if "Raspberry Pi" in text or "Cortex-A53" in text:
        return "pi"
    if "Jetson" in text:
        return "jetson"
    return "board" if "Dev Board" in text else "desktop"


def counterparts(run: RunResult, r: TargetResult) -> list[PublishedFigure]:
    setup = setup_class(r)
    if setup is None:
        return []
    runtime, precision, accelerator = setup
    mine = _device_class(run)
    return [f for f in published() if f.runtime == runtime and f.precision == precision
            and (f.accelerator is None) == (accelerator is None) and _figure_class(f) == mine]


@dataclass(frozen=True)
class HubFigure(PublishedFigure):
    """A result another run pushed to the hub for the same model, compared target by target."""

    target: str = ""
    run_id: str = ""
    fingerprint: str = ""


def hub_figures(results: list[dict], source: str) -> list[HubFigure]:
    """The hub's per-device results for a model (its /results API rows) as figures to compare
    against, each keeping its target, run and device fingerprint."""
    figures = []
    for row in results:
        if not row.get("fps"):
            continue
        target, run_id = str(row.get("target")), str(row.get("run_id"))
        figures.append(HubFigure(
            setup=f"{row.get('device')}, hub run {run_id[:8]}", device=str(row.get("device")),
            accelerator="Coral Edge TPU" if target.startswith("edgetpu") else None, runtime=target,
            precision=str(row.get("precision")), fps=float(row["fps"]), ms=float(row.get("median_ms") or 0),
            power_w=None, power_note=None, source=source, status="measured (hub)", target=target,
            run_id=run_id, fingerprint=str(row.get("fingerprint"))))
    return figures


def explain(run: RunResult, hub: list[HubFigure] = ()) -> Explanation:
    """The run's gaps to the published figures (and to `hub` figures of the same target, from
    other runs: edgebench.conditions.explain.hub_figures)."""
    model = str(run.model.get("name", "?"))
    gaps, notes = [], []
    for position, r in enumerate(run.results):
        for figure in (f for f in hub if f.target == r.target and f.run_id != run.run_id):
            if r.status == "ok" and r.fps:
                gaps.append(Gap(sweep_label(r), r.fps, figure.setup, figure.fps, figure.source,
                                r.fps / figure.fps, causes(run, position, r, figure), "hub"))
    if not model.startswith(PUBLISHED_MODELS):
        notes.append(f"no published figure for model {model} (published figures are MobileNet v2 224x224)")
        notes += [f"{sweep_label(r)}{_lowering(run, i)}" for i, r in enumerate(run.results)
                  if r.status == "ok" and _lowering(run, i)]
        return Explanation(run.run_id, model, gaps, notes)
    for position, r in enumerate(run.results):
        label = sweep_label(r)
        if r.status != "ok" or not r.fps:
            notes.append(f"{label}: not measured ({r.status}{': ' + r.error if r.error else ''})")
            continue
        figures = counterparts(run, r)
        if not figures:
            notes.append(f"{label}: no published figure of the same setup class "
                         "(published: TFLite int8 CPU, TFLite int8 Edge TPU, Keras fp32 CPU; "
                         f"on a {_device_class(run)} machine)" + _lowering(run, position))
            continue
        for figure in figures:
            gaps.append(Gap(label, r.fps, figure.setup, figure.fps, _cited(figure.source),
                            r.fps / figure.fps, causes(run, position, r, figure)))
    return Explanation(run.run_id, model, gaps, notes)


def _number(value) -> bool:
    """A usable stored figure: stored data read back (an imported run) may hold anything."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _cited(source: str) -> str:
    """A published figure's source in a few words: 'Sterckval 2019', 'Coral, "Edge TPU performance benchmarks"'."""
    return "Sterckval 2019" if source.startswith("Sterckval 2019") else source.split(" (")[0][:80]


def _lowering(run: RunResult, position: int) -> str:
    """'; conditions that lower its figure: ...': the causes that apply to any figure of the
    run (no published counterpart needed), or '' when none does."""
    found = [_from_condition(run, "cpu governor", "CPU governor"),
             _from_condition(run, "cpu frequency limit", "CPU frequency capped"),
             _from_condition(run, "turbo", "turbo off"), _thermal(run, run.results[position]),
             _other_processes(run, position), _from_condition(run, "memory pressure", "memory pressure")]
    applying = [f"{c.name}: {c.evidence}" for c in found if c.verdict == APPLIES]
    return f"; conditions that lower its figure: {'; '.join(applying)}" if applying else ""


def _condition(run: RunResult, check: str):
    found = [c for c in run.conditions if c.check == check]
    return found[0] if found else None


def _from_condition(run: RunResult, check: str, name: str, estimate: str | None = None) -> Cause:
    c = _condition(run, check)
    if c is None:
        return Cause(name, NOT_CHECKED, "not recorded with this run")
    if c.status == "unavailable":
        return Cause(name, NOT_CHECKED, f"{c.meaning} ({c.source})")
    evidence = f"{c.value} ({c.source}): {c.meaning}"
    return Cause(name, APPLIES if c.status == "warn" else NOT_APPLY, evidence,
                 estimate if c.status == "warn" else None)


def causes(run: RunResult, position: int, r: TargetResult, figure: PublishedFigure) -> list[Cause]:
    found = [_hardware(run, figure)]
    if figure.accelerator and "Coral" in figure.accelerator:
        found.append(_from_condition(run, "coral usb link", "Coral on a USB 2.0 port",
                                     "~0.21x: Sterckval 2019's USB 2.0 Pi at ~74 fps vs ~351 fps on USB 3 "
                                     "(published, not measured here)"))
    found += [_from_condition(run, "cpu governor", "CPU governor"),
              _from_condition(run, "cpu frequency limit", "CPU frequency capped"),
              _from_condition(run, "turbo", "turbo off"),
              _thermal(run, r),
              _other_processes(run, position),
              _threads(run, r),
              _from_condition(run, "memory pressure", "memory pressure"),
              _harness(run, r),
              _preprocessing(r),
              _model_file(r, figure)]
    if _device_class(run) == "jetson":
        found += [_from_condition(run, "jetson power mode", "Jetson not in MAXN"),
                  _from_condition(run, "jetson clocks", "Jetson clocks not pinned")]
    return found


def _hardware(run: RunResult, figure: PublishedFigure) -> Cause:
    d = run.device
    here = (d.board or {}).get("model") or f"{d.cpu_model} ({d.cores_logical} logical cores)"
    if isinstance(figure, HubFigure) and figure.fingerprint == d.fingerprint():
        return Cause("different hardware", NOT_APPLY, f"the hub's run has this device's fingerprint ({figure.fingerprint})")
    return Cause("different hardware", APPLIES, f"published on {figure.device}; measured on {here}")


def _thermal(run: RunResult, r: TargetResult) -> Cause:
    if r.sustained is not None and r.sustained.throttled:
        return Cause("thermal throttling", APPLIES, f"sustained run: {r.sustained.evidence}",
                     f"last minute at {r.sustained.last_vs_first:.2f}x the first minute's fps (measured)")
    causes_found = [_from_condition(run, check, "thermal throttling")
                    for check in ("pi throttling", "thermal zones")]
    applying = [c for c in causes_found if c.verdict == APPLIES]
    checked = [c for c in causes_found if c.verdict != NOT_CHECKED]
    if applying:
        return applying[0]
    if checked:
        return checked[0]
    return causes_found[-1]


def _other_processes(run: RunResult, position: int) -> Cause:
    from edgebench.conditions.processes import BUSY_CORES, describe

    name = "other processes on the cores"
    c = _condition(run, "other processes")
    if c is None:
        return Cause(name, NOT_CHECKED, "other processes' CPU use was not recorded with this run")
    if c.status == "unavailable":
        return Cause(name, NOT_CHECKED, c.meaning)
    by_target = c.data.get("by_target")
    mine = [u for u in by_target if isinstance(u, dict) and u.get("position") == position] \
        if isinstance(by_target, list) else []
    usage = mine[0] if mine else c.data
    if not _number(usage.get("cores")):
        return Cause(name, NOT_CHECKED, "the stored figure of other processes' CPU use is not a number")
    evidence = f"{describe(usage)} during its timed loop ({usage.get('seconds', 0):.2f} s; {c.source})"
    if usage.get("cores", 0.0) >= BUSY_CORES:
        return Cause(name, APPLIES, evidence, f"{usage['cores']:.1f} of {usage.get('cpus', '?')} cores taken "
                     "by other processes (measured)")
    return Cause(name, NOT_APPLY, evidence)


def _threads(run: RunResult, r: TargetResult) -> Cause:
    name = "fewer threads than cores"
    threads = r.sweep.get("threads") or r.options.get("threads")
    usable = _condition(run, "usable cores")
    cores = (usable.data.get("online") if usable is not None and usable.status != "unavailable"
             else run.device.cores_logical)
    if not isinstance(threads, int) or not _number(cores):
        return Cause(name, NOT_CHECKED, "the target's thread count or the core count was not recorded")
    limit = usable.data.get("usable") if usable is not None and usable.status == "warn" else None
    limit = limit if _number(limit) else None
    evidence = f"{threads} thread(s) on {cores} cores" + (f" ({usable.value})" if limit else "")
    if threads < cores or (limit is not None and limit < cores):
        return Cause(name, APPLIES, evidence, _thread_estimate(run, r))
    return Cause(name, NOT_APPLY, evidence)


def _thread_estimate(run: RunResult, r: TargetResult) -> str | None:
    """Where the run swept threads, the measured fps at the most threads against this one's."""
    others = [o for o in run.results if o.target == r.target and o.status == "ok" and o.fps
              and isinstance(o.sweep.get("threads"), int) and o.sweep.get("threads") > r.sweep.get("threads", 0)]
    if not others or not r.fps:
        return None
    best = max(others, key=lambda o: o.sweep["threads"])
    return f"{best.sweep['threads']} threads gave {best.fps / r.fps:.2f}x this fps (measured in this run)"


def _harness(run: RunResult, r: TargetResult) -> Cause:
    name = "the Python call around each inference"
    h = run.harness_overhead
    if h is None or r.latency_ms is None:
        return Cause(name, NOT_CHECKED, "no harness overhead measured with this run")
    share = h.median_us / (r.latency_ms.median * 1000)
    evidence = f"harness overhead {h.median_us:.2f} us vs median latency {r.latency_ms.median:.3f} ms ({h.method})"
    return Cause(name, APPLIES if share >= HARNESS_SHARE else NOT_APPLY, evidence,
                 f"{share:.1%} of each inference (measured)")


def _preprocessing(r: TargetResult) -> Cause:
    name = "preprocessing counted or not"
    if r.preprocess_ms is None or r.latency_ms is None:
        return Cause(name, NOT_CHECKED, "no preprocessing time recorded")
    with_it = 1000 / (r.latency_ms.median + r.preprocess_ms)
    return Cause(name, NOT_APPLY, f"neither figure counts it: edgebench times set_input+invoke+output on a "
                 f"prepared input, as the published loops classify one prepared image; preprocessing took "
                 f"{r.preprocess_ms:.2f} ms, timed apart", f"counted, it would give ~{with_it:.1f} fps (measured)")


def _model_file(r: TargetResult, figure: PublishedFigure) -> Cause:
    name = "a different model file"
    shape = (r.input or {}).get("shape")
    if not shape or r.artifact is None:
        return Cause(name, NOT_CHECKED, "the input shape or model file was not recorded")
    size = [s for s in shape if s not in (1, 3)]
    evidence = f"{r.artifact.get('format', '?')} {r.precision}, input {'x'.join(map(str, shape))}; " \
               f"published: {figure.precision}, {PUBLISHED_SIZE}x{PUBLISHED_SIZE}"
    if r.precision != figure.precision or any(s != PUBLISHED_SIZE for s in size[:2]):
        return Cause(name, APPLIES, evidence)
    return Cause(name, NOT_APPLY, evidence)
