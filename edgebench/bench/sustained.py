"""Sustained runs: the device's state per window, and whether it held its speed.

Boards throttle within minutes (the article's Jetson Nano and Raspberry Pi); a two-second
benchmark hides it. The verdict rests on what the device says about itself - a Raspberry Pi's
firmware flags, a drop of the CPU clock - and the fps curve shows the effect.
"""

from __future__ import annotations

from edgebench.results.schema import Sustained, Window

CLOCK_DROP = 0.10      # a CPU clock this much below its first-minute level counts as throttling


def device_sampler():
    """A callable that reads the CPU clock, thermal zones and (where NVML is present) the GPU's
    clock and temperature; each read is a few sysfs files."""
    from edgebench.hardware import cpu_frequency, thermal_zones

    gpu = _nvml_reader()

    def sample() -> dict:
        _, freq = cpu_frequency()
        state = {"cpu_mhz": freq.get("current"), "temperatures_c": thermal_zones()}
        if gpu is not None:
            state["gpu"] = gpu()
        return state

    return sample


def _nvml_reader():
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - no NVML library, no driver or no GPU: nothing to read
        return None

    def read() -> dict:
        return {"clock_mhz": float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
                "temperature_c": float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))}

    return read


def summarize(raw_windows: list[dict], window_s: float, board: dict | None = None) -> Sustained:
    """The curve, first vs last minute (or first vs last fifth of a shorter run), and a verdict."""
    windows, start = [], 0.0
    for w in raw_windows:
        duration = max(w["t_s"] - start, 1e-9)
        windows.append(Window(fps=w["inferences"] / duration, **w))
        start = w["t_s"]
    span = min(60.0, max(window_s, windows[-1].t_s / 5)) if windows else window_s
    first = [w for w in windows if w.t_s <= span] or windows[:1]
    last = [w for w in windows if w.t_s > windows[-1].t_s - span] or windows[-1:]
    first_fps, last_fps = _mean(w.fps for w in first), _mean(w.fps for w in last)
    throttled, evidence = _verdict(first, last, board)
    return Sustained(window_s=window_s, windows=windows, first_minute_fps=first_fps,
                     last_minute_fps=last_fps, last_vs_first=last_fps / first_fps if first_fps else 0.0,
                     throttled=throttled, evidence=evidence)


def _verdict(first: list[Window], last: list[Window], board: dict | None) -> tuple[bool, str]:
    flags = ((board or {}).get("throttled") or {}).get("flags") or []
    if flags:
        return True, f"firmware reports: {', '.join(flags)} (vcgencmd get_throttled)"
    first_gpu = _mean(w.gpu.get("clock_mhz") for w in first if w.gpu.get("clock_mhz"))
    last_gpu = _mean(w.gpu.get("clock_mhz") for w in last if w.gpu.get("clock_mhz"))
    if first_gpu and last_gpu and 1 - last_gpu / first_gpu > CLOCK_DROP:
        return True, f"GPU clock {first_gpu:.0f} -> {last_gpu:.0f} MHz (NVML)"
    first_mhz = _mean(w.cpu_mhz for w in first if w.cpu_mhz)
    last_mhz = _mean(w.cpu_mhz for w in last if w.cpu_mhz)
    if first_mhz and last_mhz:
        drop = 1 - last_mhz / first_mhz
        verdict = drop > CLOCK_DROP
        return verdict, (f"CPU clock {first_mhz:.0f} -> {last_mhz:.0f} MHz ({drop:+.0%} drop; "
                         f"> {CLOCK_DROP:.0%} counts as throttling)")
    if first_gpu and last_gpu:
        return False, f"GPU clock {first_gpu:.0f} -> {last_gpu:.0f} MHz (NVML), within {CLOCK_DROP:.0%}"
    return False, "the device exposes no clock or throttling flags here: only the fps curve is known"


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0
