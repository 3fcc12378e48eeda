"""The hub CLI against a real `edgebench hub serve` process (SQLite, loopback), with no network:
seeding from a local directory, energy in millijoules, and text rich must not read as markup.

Needs no model conversion: the models are Coral's ready-made files from ../shared (skipped
where that is absent)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edgebench.models import zoo
from tests.conftest import run_cli, start_hub

pytestmark = pytest.mark.slow

CORAL_FILES = dict(zoo.MOBILENET_V2_CORAL.prebuilt)
# Any download goes through a proxy that is not there, so it fails at once; the hub itself is
# on loopback, which skips the proxy.
NO_NETWORK = {name: "http://127.0.0.1:9" for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                                                       "ALL_PROXY", "all_proxy")} | {
    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


@dataclass
class Hub:
    url: str
    data: Path
    log: Path
    tokens: dict[str, str]

    def cli(self, *args, user: str | None = "bob", cache: Path, **kwargs) -> subprocess.CompletedProcess:
        """The real CLI, with its own cache and no network beyond the hub."""
        return run_cli(*args, env={**NO_NETWORK, "EDGEBENCH_HUB_URL": self.url,
                                   "EDGEBENCH_HUB_TOKEN": self.tokens.get(user, ""),
                                   "EDGEBENCH_CACHE_DIR": str(cache)}, **kwargs)

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=60)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):

    tmp = tmp_path_factory.mktemp("hub-cli")
    data = tmp / "[bold]hub data"   # rich markup in a path: the server's first line must keep it
    tokens = {}
    for user in ("bob", "carol"):
        made = run_cli("hub", "token", "create", user, "--data", data)
        assert made.returncode == 0, made.stderr
        tokens[user] = made.stdout.strip()
    log = tmp / "server.log"
    server, url = start_hub(data, log)
    yield Hub(url, data, log, tokens)
    server.terminate()
    server.wait(timeout=30)


def _one_line_error(out: subprocess.CompletedProcess, *fragments: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    flat = " ".join(out.stderr.split())
    for fragment in fragments:
        assert fragment in flat, out.stderr
    return flat


def test_server_prints_its_data_directory_literally(hub):
    assert f"(data: {hub.data})" in hub.log.read_text()


# -- seed --from DIR ------------------------------------------------------------------------------
def test_seed_uses_a_local_directory_and_downloads_nothing(hub, coral, tmp_path):
    cache = tmp_path / "cache"
    # Without --from the files would have to be downloaded: here that fails (no network).
    blocked = hub.cli("hub", "seed", "--model", "mobilenet_v2_coral", cache=cache)
    assert blocked.returncode == 0, blocked.stderr
    assert "downloading mobilenet_v2_1.0_224_quant" in blocked.stdout
    assert "skipped mobilenet_v2_coral: could not download" in blocked.stdout
    assert "seeded 0 model version(s)" in blocked.stdout

    seeded = hub.cli("hub", "seed", "--model", "mobilenet_v2_coral", "--from", coral, cache=cache)
    assert seeded.returncode == 0, seeded.stderr + seeded.stdout
    assert "downloading" not in seeded.stdout + seeded.stderr
    for source in CORAL_FILES.values():
        assert f"using {coral / source.filename} (sha256 matches the zoo's)" in seeded.stdout
    assert "published bob/mobilenet_v2_coral@1 (2 files)" in seeded.stdout
    assert not (cache / "weights").exists() or not any((cache / "weights").iterdir())

    version = hub.get("/api/models/bob/mobilenet_v2_coral/versions/1").json()
    assert sorted((a["format"], a["sha256"]) for a in version["artifacts"]) == sorted(
        (fmt, source.sha256) for (fmt, _precision), source in CORAL_FILES.items())
    again = hub.cli("hub", "seed", "--model", "mobilenet_v2_coral", "--from", coral, cache=cache)
    assert again.returncode == 0 and "bob/mobilenet_v2_coral@1 is up to date" in again.stdout
    # `hub publish` of a zoo model takes --from too; for a user's own file it means nothing.
    published = hub.cli("hub", "publish", "mobilenet_v2_coral", "--name", "bob/coral-copy", "--version", "1",
                        "--from", coral, cache=cache)
    assert published.returncode == 0 and "published bob/coral-copy@1 (2 file(s))" in published.stdout
    assert "downloading" not in published.stdout + published.stderr
    _one_line_error(hub.cli("hub", "publish", coral / CORAL_FILES[("tflite", "int8")].filename, "--version", "1",
                            "--from", coral, cache=cache), "--from is for zoo models")


def test_seed_refuses_a_local_file_whose_sha256_is_not_the_zoos(hub, coral, tmp_path):
    import shutil

    plain, edgetpu = (source.filename for source in CORAL_FILES.values())
    mixed = tmp_path / "[red]models"   # a real model file, but under the other file's name
    mixed.mkdir()
    shutil.copy(coral / plain, mixed / plain)
    shutil.copy(coral / plain, mixed / edgetpu)
    refused = hub.cli("hub", "seed", "--model", "mobilenet_v2_coral", "--from", mixed, user="carol",
                      cache=tmp_path / "cache")
    expected = CORAL_FILES[("tflite-edgetpu", "int8")].sha256
    _one_line_error(refused, f"{mixed / edgetpu} has sha256", f"expected {expected[:16]}")
    assert "published" not in refused.stdout
    assert hub.get("/api/models/carol/mobilenet_v2_coral").status_code == 404

    _one_line_error(hub.cli("hub", "seed", "--from", tmp_path / "nowhere", user="carol", cache=tmp_path / "c"),
                    "--from", "not a directory")
    (tmp_path / "empty").mkdir()
    _one_line_error(hub.cli("hub", "seed", "--from", tmp_path / "empty", user="carol", cache=tmp_path / "c"),
                    "holds none of the files looked for", edgetpu)


# -- energy in millijoules; text with brackets printed as it is -----------------------------------
def _push_run_with_energy(hub: Hub, model: str, sha256: str, j_per_inference: float) -> None:
    from edgebench.results.schema import Energy
    from tests.conftest import make_run

    run = make_run(targets=("litert-int8",))
    result = run.results[0]
    result.artifact = {"format": "tflite", "sha256": sha256}
    result.energy = Energy(method="rated 5 W [datasheet]", joules=j_per_inference * 3, seconds=0.003,
                           inferences=3, j_per_inference=j_per_inference,
                           inferences_per_j=1 / j_per_inference, avg_power_w=5.0)
    pushed = httpx.post(hub.url + "/api/results", timeout=60,
                        headers={"Authorization": f"Bearer {hub.tokens['bob']}"},
                        json={"model": model, "version": "1", "run": run.model_dump(mode="json")})
    assert pushed.status_code == 201 and pushed.json()["added"] == 1, pushed.text


def test_energy_is_shown_in_millijoules_and_brackets_survive(hub, coral, tmp_path):
    cache = tmp_path / "cache"
    source = CORAL_FILES[("tflite", "int8")]
    published = hub.cli("hub", "publish", coral / source.filename, "--name", "bob/birds", "--version", "1",
                        "--description", "[bold]birds[/bold] :smile:", "--tag", "[red]t", cache=cache)
    assert published.returncode == 0, published.stderr
    _push_run_with_energy(hub, "bob/birds", source.sha256, 0.0123456)

    page = hub.get("/models/bob/birds").text
    assert "energy (mJ/inference)" in page and not re.search(r"[^m]J/inference", page)
    cell = re.search(r'<td class="energy">([0-9.]+) \(', page)
    assert cell and float(cell.group(1)) == pytest.approx(1000 * 0.0123456, abs=0.005)
    assert hub.get("/api/models/bob/birds/results").json()[0]["energy_j_per_inference"] == pytest.approx(0.0123456)

    shown = hub.cli("hub", "show", "bob/birds", user=None, cache=cache)
    assert shown.returncode == 0, shown.stderr
    assert "energy (mJ/inference)" in shown.stdout and "12.35 (rated 5 W [datasheet])" in shown.stdout
    assert "[bold]birds[/bold] :smile:" in shown.stdout and "[red]t" in shown.stdout

    dest = tmp_path / "[green]pulled"
    pulled = hub.cli("hub", "pull", "bob/birds@1", "--dest", dest, user=None, cache=cache)
    assert pulled.returncode == 0 and f"{dest / source.filename}  sha256 {source.sha256} verified" in pulled.stdout


def test_pages_render_without_sqlalchemy_warnings(hub):
    assert hub.get("/").status_code == 200
    assert hub.get("/models/bob/birds").status_code in (200, 404)
    assert "Warning" not in hub.log.read_text()
