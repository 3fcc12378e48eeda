"""The Coral Edge TPU through LiteRT's external-delegate API and libedgetpu.

Only models compiled by `edgetpu_compiler` (*_edgetpu.tflite) run here: their graph is one
custom op that the delegate executes on the Edge TPU. This module never loads the delegate
at import time; available() tries it, and says precisely what is missing.
"""

from __future__ import annotations

import ctypes.util
import platform

from edgebench.errors import TargetUnavailable
from edgebench.packages import module_importable, package_version
from edgebench.runtimes.litert import LiteRTSession, create_interpreter
from edgebench.runtimes.options import EdgeTpuOptions

# The delegate library's name per OS, as Coral's runtime packages install it.
DELEGATE_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def delegate_library() -> str:
    return DELEGATE_LIBRARY.get(platform.system(), "libedgetpu.so.1")


class EdgeTpuRuntime:
    name = "edgetpu"
    formats = ("tflite-edgetpu",)
    options_type = EdgeTpuOptions
    capabilities = frozenset()

    def version(self) -> str | None:
        return package_version("ai-edge-litert")

    def _delegate_present(self) -> bool:
        lib = delegate_library()
        if ctypes.util.find_library("edgetpu"):
            return True
        try:
            ctypes.CDLL(lib)
            return True
        except OSError:
            return False

    def available(self) -> tuple[bool, str]:
        if not module_importable("ai_edge_litert"):
            return False, "ai-edge-litert not installed (pip install 'edgebench[litert]')"
        if not self._delegate_present():
            return False, (f"the Edge TPU delegate {delegate_library()} is not installed "
                           "(Coral's libedgetpu1-std package)")
        from edgebench.hardware import edgetpus

        devices = edgetpus()
        if not devices:
            return False, f"{delegate_library()} is installed but no Edge TPU is connected"
        first = devices[0]
        return True, f"{first['name']} on {first.get('link', first.get('device', '?'))}"

    def load(self, artifact, options: EdgeTpuOptions) -> LiteRTSession:
        if getattr(artifact, "requires", None) != "edgetpu":
            raise TargetUnavailable("the model is not compiled for the Edge TPU (run edgetpu_compiler "
                                    "on a full-integer TFLite model)")
        ok, reason = self.available()
        if not ok:
            raise TargetUnavailable(reason)
        from ai_edge_litert.interpreter import load_delegate

        # libedgetpu's own option: which Edge TPU ("usb:0", "pci:0"); default the first found.
        delegate_options = {"device": options.device_path} if options.device_path else {}
        delegate = load_delegate(delegate_library(), delegate_options)
        interpreter = create_interpreter(artifact.path, experimental_delegates=[delegate])
        return LiteRTSession(interpreter, {"delegate": delegate_library(),
                                           "edgetpu_device": options.device_path or "first found"})
