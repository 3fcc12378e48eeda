"""Planning (issue 10): RunConfig checks names and ranges itself, typed runtime options fail
before any target is timed, capabilities replace runtime-name checks, and `run` and `accuracy`
plan through the same code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgebench.bench import plan as plan_module
from edgebench.bench.config import RunConfig
from edgebench.bench.plan import make_plan
from edgebench.errors import UserError
from edgebench.protocol import Protocol
from edgebench.runtimes.base import NoArena
from edgebench.runtimes.null import NullRuntime
from edgebench.runtimes.options import TorchOptions
from edgebench.tensors import TensorSpec

FAST = Protocol("test", warmup=0, settle_s=0.0, runs=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"targets": ()}, "no target named"),
    ({"targets": ("litert-int8", "warp-drive")}, "unknown target 'warp-drive'"),
    ({"threads": 0}, "threads must be an integer from 1 to 256"),
    ({"threads": 100_000}, "threads must be an integer from 1 to 256"),
    ({"threads": True}, "threads must be an integer"),
    ({"threads": 2.5}, "threads must be an integer"),
    ({"batch": 0}, "batch must be an integer"),
    ({"preprocess": "magic"}, "unknown preprocessing 'magic'"),
    ({"meter": "wattmeter"}, "unknown meter 'wattmeter'"),
    ({"meter": "rated"}, "the rated meter needs the device's rated power in W"),
    ({"power_w": math.nan}, "rated power"),
    ({"power_w": -1.0}, "rated power"),
    ({"power_w": math.inf}, "rated power"),
    ({"model": ""}, "no model named"),
    ({"protocol": "classic"}, "protocol must be a Protocol"),
    ({"runtime_settings": {"warp": {"x": "1"}}}, "unknown runtime 'warp'"),
    ({"runtime_settings": {"torch": {"mode": "bogus"}}}, "unknown torch mode 'bogus'"),
    ({"runtime_settings": {"torch": {"nope": "1"}}}, "torch has no option 'nope'"),
    ({"runtime_settings": {"litert": {"mode": "x"}}}, "litert has no option 'mode' (it takes: no options)"),
])
def test_run_config_refuses_bad_names_and_ranges(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunConfig(**kwargs)


def test_a_cuda_only_mode_is_valid_config_but_not_for_a_cpu_target():
    RunConfig(runtime_settings={"torch": {"mode": "graph"}})   # fine: torch also runs on CUDA
    with pytest.raises(UserError, match="does not run on cpu"):
        TorchOptions(mode="graph", device="cpu")
    assert TorchOptions(device="cuda", batch=8).resolved_mode == "compile"
    assert TorchOptions(device="cuda").resolved_mode == "graph"
    assert TorchOptions().resolved_mode == "frozen"
    assert TorchOptions.build("torch", {"fold_bn": "false"}, device="cuda").fold_bn is False


class Session(NoArena):
    settings = {"threads": 1}
    input_spec = TensorSpec("x", (1, 3, 224, 224), "float32", "NCHW")
    output_spec = TensorSpec("y", (1, 1000), "float32")

    def set_input(self, x): pass
    def invoke(self): pass
    def output(self):
        y = np.zeros((1, 1000), np.float32)
        y[0, 19] = 9
        return y
    def close(self): pass


class Working(NullRuntime):
    loads = 0

    def load(self, artifact, options):
        type(self).loads += 1
        return Session()


class Strict(Working):
    """A runtime with options of its own, checked when planned."""

    options_type = TorchOptions


@pytest.fixture
def fakes(monkeypatch, coral):
    from edgebench.bench import config as config_module

    # The fakes' options are checked where the run is planned; the registry-level check that
    # RunConfig makes on construction is tested above.
    monkeypatch.setattr(config_module, "_check_settings", lambda settings: None)
    Working.loads = 0
    table = {"litert": Working(), "openvino": Strict(), "onnxruntime": Working()}
    monkeypatch.setattr(plan_module, "load_runtime", lambda key: table.get(key, _Missing()))
    return str(coral / "mobilenet_v2_1.0_224_quant.tflite")


class _Missing(NullRuntime):
    def available(self):
        return False, "not here"


def test_options_wrong_for_a_named_target_fail_before_anything_loads(fakes):
    config = RunConfig(model=fakes, targets=("litert-int8", "openvino-int8"), protocol=FAST,
                       runtime_settings={"openvino": {"mode": "graph"}})
    with pytest.raises(UserError, match="openvino-int8: torch mode 'graph' does not run on cpu"):
        make_plan(config)
    assert Working.loads == 0


def test_options_wrong_for_a_target_of_the_default_selection_skip_it_with_the_reason(fakes):
    plan = make_plan(RunConfig(model=fakes, protocol=FAST, runtime_settings={"openvino": {"mode": "graph"}}))
    assert [p.name for p in plan.targets] == ["litert-int8", "onnxruntime-int8"]
    skipped = {s.target: s.reason for s in plan.skipped}
    assert "does not run on cpu" in skipped["openvino-int8"]
    assert skipped["edgetpu-int8"] == "not here"


def test_batching_is_a_declared_capability(fakes):
    named = make_plan(RunConfig(model=fakes, targets=("litert-int8",), batch=8, protocol=FAST))
    assert named.targets[0].status == "unavailable" and "--batch 8" in named.targets[0].error
    with pytest.raises(UserError, match="no available target runs"):
        make_plan(RunConfig(model=fakes, batch=8, protocol=FAST))


def test_run_and_accuracy_plan_the_same_targets(fakes, coral, tmp_path, monkeypatch):
    import shutil

    from edgebench.bench import accuracy, execute

    planned = []
    real = plan_module.make_plan
    monkeypatch.setattr(execute, "make_plan", lambda *a, **k: planned.append(real(*a, **k)) or planned[-1])
    monkeypatch.setattr(accuracy, "make_plan", lambda *a, **k: planned.append(real(*a, **k)) or planned[-1])
    (tmp_path / "chickadee").mkdir()
    shutil.copy(coral / "bird.bmp", tmp_path / "chickadee")
    config = RunConfig(model=fakes, protocol=FAST, image=coral / "bird.bmp")
    run = execute.run(config)
    acc = accuracy.evaluate(config, tmp_path)
    assert [p.name for p in planned[0].targets] == [p.name for p in planned[1].targets]
    assert [r.target for r in run.results] == [r.target for r in acc.results]
    assert acc.results[0].top1_accuracy == 1.0
    assert run.reference is None and acc.reference_target is None   # int8 only: no float reference
    assert run.results[0].agrees_with_reference is None
