"""`edgebench compare`: what it refuses (runs of different models), what it warns about (another
device, image, protocol or model version), which run a device name means, its JSON output and
the report's section for it, and thresholds refused while the arguments are parsed."""

from __future__ import annotations

import json

import pytest

from edgebench.errors import UserError
from edgebench.report.compare import compare_runs, differences, load_comparison
from edgebench.results.exchange import dump_json
from edgebench.results.query import compare_side, compare_sides
from edgebench.results.schema import ProtocolInfo
from edgebench.results.store import Store
from tests.conftest import make_run, run_cli


def _run(created="2026-01-01T10:00:00+00:00", model="mobilenet_v2", host=None, **model_fields):
    run = make_run(targets=("litert-int8", "torch-fp32"))
    run.created = created
    run.model = {"name": model, "source": "zoo", **model_fields}
    if host is not None:
        run.device = run.device.model_copy(update={"hostname": host})
    return run


def _one_line(out, *fragments: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_differences_refuse_another_model_and_warn_about_the_rest():
    zoo = _run()
    coral_file = _run(model="mobilenet_v2_1.0_224_quant_edgetpu")
    coral_file.model["source"] = "file"
    assert [(d.what, d.refused) for d in differences(zoo, coral_file)] == [("model", True)]
    assert "different models: mobilenet_v2 (baseline) vs mobilenet_v2_1.0_224_quant_edgetpu" in \
        differences(zoo, coral_file)[0].text

    assert differences(zoo, _run()) == []   # one model, one device, one image, one protocol
    elsewhere = _run(host="raspberrypi")
    other_image = _run()
    other_image.image = {"path": "/photos/cat.jpg", "sha256": "f" * 64}
    rigorous = _run()
    rigorous.results[0].protocol = ProtocolInfo(name="rigorous", warmup=50, settle_s=1.0, runs=1000, repetitions=3)
    retrained = _run(weights_sha256="a" * 64)
    for other, what, fragment in ((elsewhere, "device", "different devices: "),
                                  (other_image, "image", "different images: x.jpg (baseline) vs cat.jpg (ffffffff)"),
                                  (rigorous, "protocol", ("classic (1 x >= 3 runs) (baseline) vs rigorous "
                                                          "(3 x >= 1000 runs) (candidate) for litert-int8")),
                                  (retrained, "model version", "different versions of mobilenet_v2")):
        found = differences(zoo, other)
        assert [(d.what, d.refused) for d in found] == [(what, False)], found
        assert fragment in found[0].text, found[0].text
    hub_v1 = _run(model="alice/mnv2@1", ref="alice/mnv2", version=1)
    hub_v2 = _run(model="alice/mnv2@2", ref="alice/mnv2", version=2)
    for run in (hub_v1, hub_v2):
        run.model["source"] = "hub"
    assert [d.what for d in differences(hub_v1, hub_v2)] == ["model version"]   # one hub model, changed


def test_a_device_name_means_its_latest_run_of_the_other_sides_model(tmp_path):
    """It meant the device's latest run of any model: a newer run of another model was compared."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    mobilenet = _run("2026-01-01T10:00:00+00:00", host="pi")
    newer_other_model = _run("2026-01-02T10:00:00+00:00", model="efficientnet_lite0", host="pi")
    here = _run("2026-01-03T10:00:00+00:00")
    for run in (mobilenet, newer_other_model, here):
        store.save(run)
    (a, _), (b, label) = compare_sides(store, here.run_id[:8], "pi")
    assert (a.run_id, b.run_id) == (here.run_id, mobilenet.run_id)
    assert label == f"pi (run {mobilenet.run_id[:12]}, mobilenet_v2)"
    (a, _), (b, _) = compare_sides(store, "pi", here.run_id)   # the device on either side
    assert a.run_id == mobilenet.run_id
    lone = _run("2026-01-04T10:00:00+00:00", model="resnet50")
    store.save(lone)
    with pytest.raises(UserError, match="device 'pi' has no complete run of resnet50"):
        compare_sides(store, lone.run_id, "pi")
    assert compare_side(store, "pi")[0].run_id == newer_other_model.run_id   # alone: its latest run
    with pytest.raises(UserError, match="'feedface' is not a results file, a stored run id or a device name"):
        compare_sides(store, here.run_id, "feedface")


def test_compare_refuses_different_models_in_one_line(tmp_path):
    zoo, coral_file = _run(), _run(model="mobilenet_v2_1.0_224_quant_edgetpu")
    (tmp_path / "zoo.json").write_text(dump_json([zoo]))
    (tmp_path / "coral.json").write_text(dump_json([coral_file]))
    out = tmp_path / "c.json"
    refused = run_cli("compare", tmp_path / "zoo.json", tmp_path / "coral.json", "--out", out)
    _one_line(refused, "different models: mobilenet_v2 (baseline) vs mobilenet_v2_1.0_224_quant_edgetpu "
                       "(candidate)", "--allow-different-models")
    assert refused.stdout == "" and not out.exists()
    allowed = run_cli("compare", tmp_path / "zoo.json", tmp_path / "coral.json", "--allow-different-models")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip().startswith("warning: different models") and len(allowed.stderr.splitlines()) == 1


def test_compare_out_json_and_the_reports_comparison_section(tmp_path):
    base, slow = _run(), _run(host="raspberrypi")
    base.results[0].samples_ms = [1.0 + i / 1000 for i in range(200)]
    slow.results[0].samples_ms = [2.0 + i / 1000 for i in range(200)]
    (tmp_path / "a.json").write_text(dump_json([base]))
    (tmp_path / "b.json").write_text(dump_json([slow]))
    out = tmp_path / "compare.json"
    compared = run_cli("compare", tmp_path / "a.json", tmp_path / "b.json", "--out", out, "--fail-on-regression")
    assert compared.returncode == 1, compared.stderr     # the regression still sets the exit code
    assert "warning: different devices:" in compared.stderr and "raspberrypi" in compared.stderr
    document = json.loads(out.read_text())
    assert document["format"] == "edgebench-compare" and document["regressions"] == ["litert-int8"]
    by_target = {t["target"]: t for t in document["targets"]}
    assert by_target["litert-int8"]["verdict"] == "slower" and by_target["litert-int8"]["ratio"] == pytest.approx(2.0995 / 1.0995)
    assert [d["what"] for d in document["differences"]] == ["device"]
    assert [s["run_id"] for s in document["sides"]] == [base.run_id, slow.run_id]
    assert load_comparison(out.read_text()) == compare_runs(base, slow, baseline_label=str(tmp_path / "a.json"),
                                                            candidate_label=str(tmp_path / "b.json"))

    store = str(tmp_path / "s.db")
    Store(store).save(base)
    report = tmp_path / "r.html"
    made = run_cli("report", "--store", store, "--out", report, "--compare", out)
    assert made.returncode == 0, made.stderr
    html = " ".join(report.read_text().split())
    assert 'id="comparisons"' in html and "Regression: litert-int8" in html
    assert "warning: different devices:" in html and '<td class="bad">slower</td>' in html
    (tmp_path / "bad.json").write_text('{"format": "edgebench-compare", "format_version": 1, "baseline": 3}')
    _one_line(run_cli("report", "--store", store, "--out", report, "--compare", tmp_path / "bad.json"),
              "is not an edgebench comparison")


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-1", "10.5", "-inf"])
def test_thresholds_out_of_range_are_refused_while_parsing(value, tmp_path):
    # No store exists: the refusal comes before anything is read.
    out = run_cli("compare", "a", "b", f"--threshold={value}", "--store", tmp_path / "none.db")
    _one_line(out, "--threshold", "must be a finite number from 0 to 10")


def test_threshold_and_alpha_edges_in_the_library():
    run = _run()
    for bad in (float("inf"), float("nan"), -1.0, 10.01):
        with pytest.raises(ValueError, match="finite number from 0 to 10"):
            compare_runs(run, run, threshold=bad)
    with pytest.raises(ValueError, match="finite number from 1e-09 to 0.5"):
        compare_runs(run, run, alpha=float("nan"))
    assert compare_runs(run, run, threshold=0.0).threshold == 0.0 and compare_runs(run, run, threshold=10.0)
