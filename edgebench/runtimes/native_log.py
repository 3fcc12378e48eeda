"""Native libraries that write to file descriptor 2 behind Python's back.

LiteRT announces "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every interpreter
it creates, straight from C++: it tears through a live progress display. Python's sys.stderr
cannot catch it, so fd 2 itself is redirected to a temporary file around the call, and anything
that is not a known announcement is written back to stderr afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()   # fd 2 is process-wide: one redirection at a time


@contextlib.contextmanager
def drop_native_stderr(announcements: tuple[str, ...]) -> Iterator[None]:
    """Swallow lines starting with one of `announcements` that native code writes to fd 2."""
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not line.startswith(announcements)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
