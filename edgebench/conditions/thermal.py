"""Thermal zones: each zone's temperature against its own passive (throttling) trip point."""

from __future__ import annotations

from edgebench.conditions.base import Probe, condition, unavailable

THERMAL_DIR = "sys/class/thermal"
HOT_WITHOUT_TRIP_C = 80.0   # a zone with no passive trip point: most SoCs throttle from about here


def _millidegrees(probe: Probe, relative: str) -> float | None:
    text, _ = probe.read(relative)
    if text and text.lstrip("-").isdigit() and len(text) < 10:
        return int(text) / 1000.0
    return None


def _passive_trip(probe: Probe, zone: str) -> float | None:
    trips = []
    for n in range(16):
        kind, _ = probe.read(f"{zone}/trip_point_{n}_type")
        if kind is None:
            break
        if kind in ("passive", "hot"):
            temp = _millidegrees(probe, f"{zone}/trip_point_{n}_temp")
            if temp is not None and temp > 0:
                trips.append(temp)
    return min(trips) if trips else None


def zones(probe: Probe):
    base = probe.file(THERMAL_DIR)
    where = f"/{THERMAL_DIR}/thermal_zone*/temp, trip_point_*"
    names = sorted(p.name for p in base.glob("thermal_zone*")) if base.is_dir() else []
    readings, hot = {}, []
    for name in names:
        zone = f"{THERMAL_DIR}/{name}"
        temp = _millidegrees(probe, f"{zone}/temp")
        if temp is None:
            continue
        kind, _ = probe.read(f"{zone}/type")
        label = kind if kind and kind.isprintable() and len(kind) < 40 else name
        trip = _passive_trip(probe, zone)
        readings[label] = temp
        limit = trip if trip is not None else HOT_WITHOUT_TRIP_C
        if temp >= limit - 5:
            hot.append(f"{label} {temp:.0f} C (throttles at {limit:.0f} C)")
    if not readings:
        return unavailable("thermal zones", "thermal", "temperature of each thermal zone", where,
                           "no readable thermal zones (a VM, or a kernel without thermal drivers)")
    value = ", ".join(f"{k} {v:.0f} C" for k, v in list(readings.items())[:4])
    if hot:
        return condition("thermal zones", "thermal", "warn", "temperature of each thermal zone", where,
                         f"at or near the throttling point: {'; '.join(hot)}; the clock drops and so do the "
                         "figures (let it cool, add a heatsink or fan)", f"hot: {hot[0]}", zones_c=readings)
    return condition("thermal zones", "thermal", "ok", "temperature of each thermal zone", where,
                     "every zone well below its throttling point", value, zones_c=readings)


CHECKS = (zones,)
