"""NVIDIA GPUs through NVML (pynvml): SM clock against its maximum, and the driver's reasons for
holding clocks down (power cap, thermal slowdown)."""

from __future__ import annotations

from edgebench.conditions.base import Probe, condition, unavailable

# nvmlClocksThrottleReasons (nvml.h): the ones that slow a benchmark. GPU idle (0x1) is normal
# when nothing runs, and application clock settings (0x2) are the user's own choice.
SLOWING = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
           0x40: "hardware thermal slowdown", 0x80: "power brake"}
SM_CLOCK = 1   # NVML_CLOCK_SM


def _module(probe: Probe):
    if probe.nvml is not None:
        return probe.nvml, None
    try:
        import pynvml
    except ImportError:
        return None, "pynvml is not installed (pip install nvidia-ml-py)"
    return pynvml, None


def _reasons(nvml, handle) -> int:
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        if hasattr(nvml, name):
            return int(getattr(nvml, name)(handle))
    return 0


def _name(nvml, handle) -> str:
    name = nvml.nvmlDeviceGetName(handle)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def gpus(probe: Probe):
    nvml, why = _module(probe)
    if nvml is None:
        return [unavailable("nvidia gpu clocks", "nvml", "SM clock and throttle reasons", "NVML", why)]
    try:
        nvml.nvmlInit()
    except Exception as exc:   # pynvml raises NVMLError subclasses; a missing driver is one
        return [unavailable("nvidia gpu clocks", "nvml", "SM clock and throttle reasons", "NVML",
                            f"NVML did not start: {exc} (no NVIDIA driver or GPU)")]
    try:
        return [_gpu(nvml, i) for i in range(int(nvml.nvmlDeviceGetCount()))] or [
            unavailable("nvidia gpu clocks", "nvml", "SM clock and throttle reasons", "NVML", "NVML sees no GPU")]
    except Exception as exc:
        return [unavailable("nvidia gpu clocks", "nvml", "SM clock and throttle reasons", "NVML",
                            f"NVML failed: {exc}")]
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def _gpu(nvml, index: int):
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _name(nvml, handle)
    sm = int(nvml.nvmlDeviceGetClockInfo(handle, SM_CLOCK))
    sm_max = int(nvml.nvmlDeviceGetMaxClockInfo(handle, SM_CLOCK))
    reasons = _reasons(nvml, handle)
    slowing = [text for bit, text in SLOWING.items() if reasons & bit]
    source = f"NVML (GPU {index}: {name})"
    value = f"SM {sm}/{sm_max} MHz" + (f", {', '.join(slowing)}" if slowing else "")
    if slowing:
        meaning = (f"the driver holds the clocks down ({', '.join(slowing)}): CUDA/TensorRT targets run slower "
                   "than on a cool GPU at full power")
        return condition("nvidia gpu clocks", "nvml", "warn", "SM clock and throttle reasons", source, meaning,
                         value, gpu=index, sm_mhz=sm, sm_max_mhz=sm_max, reasons=reasons, slowing=slowing)
    return condition("nvidia gpu clocks", "nvml", "ok", "SM clock and throttle reasons", source,
                     "no power or thermal limit holds the clocks down (an idle GPU clocks low until work arrives)",
                     value, gpu=index, sm_mhz=sm, sm_max_mhz=sm_max, reasons=reasons, slowing=[])



CHECKS = (gpus,)
