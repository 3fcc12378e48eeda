"""Coral USB Accelerator: the USB link speed it negotiated (sysfs `speed` of the device whose USB
ids are Coral's). On USB 2.0 the Edge TPU waits for its data: Sterckval (2019) measured a
Raspberry Pi 3B+'s Coral (USB 2.0) at ~74 fps against ~351 fps on a USB 3 desktop."""

from __future__ import annotations

from edgebench.conditions.base import Probe, condition, unavailable
from edgebench.hardware import EDGETPU_USB_IDS, USB_SPEED_NAMES

USB_DIR = "sys/bus/usb/devices"
USB3_MBPS = 5000.0


def usb_link(probe: Probe):
    base = probe.file(USB_DIR)
    where = f"/{USB_DIR}/*/speed"
    if not base.is_dir():
        return [unavailable("coral usb link", "coral", "USB link speed of the Coral USB Accelerator", where,
                            f"no /{USB_DIR} (not Linux, or /sys not mounted)")]
    found = []
    for dev in sorted(p.name for p in base.iterdir()):
        vendor, _ = probe.read(f"{USB_DIR}/{dev}/idVendor")
        product, _ = probe.read(f"{USB_DIR}/{dev}/idProduct")
        if (vendor, product) in EDGETPU_USB_IDS:
            found.append(_link(probe, dev, (vendor, product)))
    return found or [unavailable("coral usb link", "coral", "USB link speed of the Coral USB Accelerator", where,
                                 "no Coral USB Accelerator plugged in (USB ids 18d1:9302 or 1a6e:089a)")]


def _link(probe: Probe, dev: str, ids: tuple[str, str]):
    relative = f"{USB_DIR}/{dev}/speed"
    speed, why = probe.read(relative)
    try:
        mbps = float(speed) if speed is not None else None
    except ValueError:
        mbps = None
    read = f"USB link speed of {EDGETPU_USB_IDS[ids]} ({':'.join(ids)})"
    if mbps is None:
        return unavailable("coral usb link", "coral", read, probe.shown(relative),
                           f"speed unreadable: {why or repr(speed[:40])}")
    name = USB_SPEED_NAMES.get(speed, f"{mbps:g} Mb/s")
    if mbps < USB3_MBPS:
        meaning = (f"{name}: the Edge TPU is fed at {mbps:g} Mb/s, so it waits for its inputs; Sterckval 2019 "
                   "measured ~74 fps on USB 2.0 against ~351 fps on USB 3 (plug it into a blue USB 3 port)")
        return condition("coral usb link", "coral", "warn", read, probe.shown(relative), meaning,
                         f"Coral on {name.split(' ')[0]} {name.split(' ')[1] if ' ' in name else ''}".strip()
                         + f" ({mbps:g} Mb/s)", link_mbps=mbps, bus_path=dev)
    return condition("coral usb link", "coral", "ok", read, probe.shown(relative),
                     f"{name}: fast enough for the Edge TPU's published figures", f"{name} ({mbps:g} Mb/s)",
                     link_mbps=mbps, bus_path=dev)


CHECKS = (usb_link,)
