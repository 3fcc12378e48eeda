"""What `edgebench preview` prints: the device's name and a QR code of the page's URL."""

from __future__ import annotations

import platform

# Two QR rows per text line: (upper module light, lower module light) -> character.
_HALF_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}
QUIET_ZONE = 2


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of text, True for dark modules, with a quiet zone around it."""
    import qrcode

    qr = qrcode.QRCode(border=QUIET_ZONE, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.get_matrix()


def qr_text(text: str) -> str:
    """The QR code as half-block characters. Light modules (and the quiet zone) are the ones
    drawn, so on a terminal's usual light-on-dark colours the code reads dark-on-light, as
    scanners expect."""
    matrix = qr_matrix(text)
    if len(matrix) % 2:
        matrix = [*matrix, [True] * len(matrix[0])]   # an undrawn (dark) row below the last
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2]):
        lines.append("".join(_HALF_BLOCKS[(not a, not b)] for a, b in zip(top, bottom)))
    return "\n".join(lines)


def matrix_from_text(text: str) -> list[list[bool]]:
    """qr_text read back (tests check that the printed code is the URL's)."""
    reverse = {v: k for k, v in _HALF_BLOCKS.items()}
    rows: list[list[bool]] = []
    for line in text.splitlines():
        pairs = [reverse[ch] for ch in line]
        rows.append([not top for top, _ in pairs])
        rows.append([not bottom for _, bottom in pairs])
    return rows


def device_label() -> str:
    """What the page calls this device: the board (Raspberry Pi, Jetson) or the CPU model."""
    from edgebench import hardware
    from edgebench.system import parse_cpuinfo

    board = hardware.board() or {}
    if board.get("model"):
        return board["model"]
    try:
        with open("/proc/cpuinfo", errors="replace") as f:
            model, _ = parse_cpuinfo(f.read())
    except OSError:
        model = ""
    return model or platform.processor() or platform.machine() or "this device"
