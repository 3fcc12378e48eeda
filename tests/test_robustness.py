"""Real processes: Ctrl-C in the middle of a multi-target run, and two writers on one store."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from edgebench.results.store import Store
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def start_run(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgebench", "run", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def wait_for_finished_target(url: str, proc: subprocess.Popen, timeout_s: float = 600) -> None:
    engine = create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT count(*) FROM target_results WHERE status = 'ok'")).scalar():
                        return
            except Exception:  # noqa: BLE001 - the tables do not exist yet
                pass
            time.sleep(0.2)
        pytest.fail("no target finished in time")
    finally:
        engine.dispose()


def test_sigint_keeps_finished_targets_and_marks_the_run_interrupted(store_url, tmp_path):
    out_path = tmp_path / "r.json"
    proc = start_run("--targets", "litert-int8,onnxruntime-fp32,openvino-fp32", "--runs", "2500",
                     "--settle", "0", "--store", store_url, "--out", str(out_path))
    wait_for_finished_target(store_url, proc)
    time.sleep(0.5)  # well inside the second target's timed loop
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert "interrupted" in stderr

    [run] = Store(store_url).all_runs()
    assert run.status == "interrupted"
    by_target = {r.target: r for r in run.results}
    assert by_target["litert-int8"].status == "ok" and len(by_target["litert-int8"].samples_ms) == 2500
    assert "openvino-fp32" not in by_target             # never started
    if "onnxruntime-fp32" in by_target:                 # the one Ctrl-C cut short
        assert by_target["onnxruntime-fp32"].status == "interrupted"
    written = json.loads(out_path.read_text())
    assert written["status"] == "interrupted" and written["run_id"] == run.run_id


def test_two_processes_writing_one_store_both_land(store_url):
    procs = [start_run("--targets", "litert-int8", "--runs", "300", "--settle", "0", "--store", store_url)
             for _ in range(2)]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout + stderr
    runs = Store(store_url).all_runs()
    assert len(runs) == 2
    assert all(r.status == "complete" and r.results[0].status == "ok" for r in runs)


def test_sigterm_mid_run_leaves_the_run_interrupted_not_running(store_url, tmp_path):
    proc = start_run("--targets", "litert-int8,onnxruntime-fp32", "--runs", "2500", "--settle", "0",
                     "--store", store_url)
    wait_for_finished_target(store_url, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stdout + stderr
    assert "Traceback" not in stdout + stderr and "terminated by SIGTERM" in stderr
    [run] = Store(store_url).all_runs()
    assert run.status == "interrupted" and "SIGTERM" in run.error
    assert run.results[0].status == "ok"


def test_sighup_mid_run_leaves_the_run_interrupted_not_running(store_url):
    """A closed terminal (SIGHUP) ends a run like Ctrl-C: finished targets kept, exit 129."""
    proc = start_run("--targets", "litert-int8,onnxruntime-fp32", "--runs", "2500", "--settle", "0",
                     "--store", store_url)
    wait_for_finished_target(store_url, proc)
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGHUP == 129, stdout + stderr
    assert "Traceback" not in stdout + stderr and "SIGHUP" in stderr
    [run] = Store(store_url).all_runs()
    assert run.status == "interrupted" and "SIGHUP" in run.error
    assert run.results[0].status == "ok"


def test_failing_while_planning_stores_nothing_and_no_target_run_is_failed(store_url, coral):
    # the meter is checked while planning, before a run is recorded: nothing half-made is left
    out = subprocess.run([sys.executable, "-m", "edgebench", "run", "--meter", "nvml", "--store", store_url,
                          "--targets", "litert-int8"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and "meter 'nvml' is not available" in out.stderr
    assert Store(store_url).all_runs() == []
    # a run in which no target could run is stored as failed, never as a complete measurement
    out = subprocess.run([sys.executable, "-m", "edgebench", "run", "--store", store_url, "--model",
                          str(coral / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"), "--targets", "edgetpu-int8"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and "no target ran" in out.stderr
    [run] = Store(store_url).all_runs()
    assert run.status == "failed" and run.error == "no target ran"
