"""One target failing or unavailable never stops the others (API level, fake runtimes)."""

import numpy as np

from edgebench.bench import execute, plan
from edgebench.bench.config import RunConfig
from edgebench.protocol import Protocol
from edgebench.runtimes.base import NoArena
from edgebench.runtimes.null import NullRuntime

FAST = Protocol("test", warmup=0, settle_s=0.0, runs=3)


class ExplodingRuntime(NullRuntime):
    name = "exploding"

    def load(self, artifact, options):
        raise RuntimeError("Exception from src/core.cpp:12:\ndevice fell off the bus")


class MissingRuntime(NullRuntime):
    def available(self):
        return False, "not installed (pip install nothing)"


class ConfidentSession(NoArena):
    """A session that always predicts class 19."""

    settings = {"threads": 1}

    from edgebench.tensors import TensorSpec

    input_spec = TensorSpec("x", (1, 3, 224, 224), "float32", "NCHW")
    output_spec = TensorSpec("y", (1, 1000), "float32")

    def set_input(self, x): pass
    def invoke(self): pass
    def output(self):
        y = np.zeros((1, 1000), np.float32)
        y[0, 19] = 10
        return y
    def close(self): pass


class WorkingRuntime(NullRuntime):
    def load(self, artifact, options):
        return ConfidentSession()


def test_failures_are_recorded_and_the_rest_still_run(monkeypatch, coral):
    fakes = {"litert": ExplodingRuntime(), "onnxruntime": MissingRuntime(), "openvino": WorkingRuntime(),
             "torch": WorkingRuntime()}
    monkeypatch.setattr(plan, "load_runtime", lambda name: fakes.get(name, MissingRuntime()))
    config = RunConfig(model=str(coral / "mobilenet_v2_1.0_224_quant.tflite"), image=coral / "bird.bmp",
                       targets=("litert-int8", "onnxruntime-int8", "openvino-int8"), protocol=FAST)
    result = execute.run(config)
    by = {r.target: r for r in result.results}
    assert by["litert-int8"].status == "failed"
    assert "device fell off the bus" in by["litert-int8"].error
    assert by["onnxruntime-int8"].status == "unavailable"
    assert "pip install" in by["onnxruntime-int8"].error
    assert by["openvino-int8"].status == "ok" and by["openvino-int8"].top1.label == "chickadee"
