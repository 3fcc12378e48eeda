"""Issue 11: every int8 variant of mobilenet_v2 keeps its accuracy on labelled ImageNet images:
top-1 >= 99% of the fp32 top-1 (MLPerf's rule for int8) and >= 95% top-1 agreement with fp32.

The images are the shared dev set (300 ImageNet samples, never copied into the project); the
test skips where ../shared is absent.
"""

from __future__ import annotations

import pytest

from edgebench.bench.accuracy import evaluate
from edgebench.bench.config import RunConfig
from tests.conftest import REPO

DEV_SET = REPO.parent / "shared" / "data" / "imagenet-sample-dev"
INT8_TARGETS = ("litert-int8", "onnxruntime-int8", "openvino-int8")
TOP1_RATIO, AGREEMENT = 0.99, 0.95


@pytest.fixture
def dev_set():
    if not DEV_SET.is_dir():
        pytest.skip("../shared/data/imagenet-sample-dev is not present")
    return DEV_SET


@pytest.mark.slow
def test_every_int8_variant_of_mobilenet_v2_keeps_its_accuracy(dev_set):
    result = evaluate(RunConfig(targets=("torch-fp32", *INT8_TARGETS)), dev_set)
    assert result.reference_target == "torch-fp32"
    by_target = {r.target: r for r in result.results}
    fp32 = by_target["torch-fp32"]
    assert fp32.status == "ok" and fp32.images == 300 and fp32.top1_accuracy > 0.8
    failures = []
    for name in INT8_TARGETS:
        r = by_target[name]
        assert r.status == "ok", f"{name}: {r.error}"
        if r.top1_accuracy < TOP1_RATIO * fp32.top1_accuracy or r.agreement_with_reference < AGREEMENT:
            failures.append(f"{name}: top-1 {r.top1_accuracy:.1%} (fp32 {fp32.top1_accuracy:.1%}), "
                            f"agreement {r.agreement_with_reference:.1%}")
    assert not failures, "; ".join(failures)
