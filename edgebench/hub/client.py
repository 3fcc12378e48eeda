"""Talking to a hub: what the CLI and `run --model hub://...` use.

The hub's address and token come from EDGEBENCH_HUB_URL and EDGEBENCH_HUB_TOKEN. Every refusal
becomes a UserError carrying the hub's one-line reason and HTTP status.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from edgebench.errors import UserError
from edgebench.hub.names import ModelRef, check_filename, check_segment

DEFAULT_URL = "http://127.0.0.1:8765"
MANIFEST = "edgebench-hub.json"


class HubIntegrityError(UserError):
    """A downloaded file's sha256 is not the one the hub lists."""


class HubClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 120.0):
        import httpx

        self.url = (url or os.environ.get("EDGEBENCH_HUB_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"hub URL must start with http:// or https://: {self.url}")
        self.token = token if token is not None else os.environ.get("EDGEBENCH_HUB_TOKEN")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs):
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach the hub at {self.url}: {exc or type(exc).__name__}") from None
        _raise_for_refusal(response)
        return response

    # -- reading --------------------------------------------------------------------------------
    def whoami(self) -> str:
        return self._request("GET", "/api/whoami").json()["user"]

    def search(self, q: str = "", task: str = "", tag: str = "", fmt: str = "", limit: int = 50) -> list[dict]:
        params = {k: v for k, v in {"q": q, "task": task, "tag": tag, "format": fmt}.items() if v}
        return self._request("GET", "/api/models", params={**params, "limit": limit}).json()

    def show(self, ref: ModelRef) -> dict:
        return self._request("GET", f"/api/models/{ref.path}").json()

    def version(self, ref: ModelRef) -> dict:
        return self._request("GET", f"/api/models/{ref.path}/versions/{ref.version or 'latest'}").json()

    def results(self, ref: ModelRef) -> list[dict]:
        return self._request("GET", f"/api/models/{ref.path}/results").json()

    # -- publishing -----------------------------------------------------------------------------
    def upload(self, path: Path) -> dict:
        path = Path(path)
        check_filename(path.name)
        with open(path, "rb") as f:
            return self._request("POST", "/api/uploads", params={"filename": path.name}, content=f,
                                 headers={"Content-Length": str(path.stat().st_size)}).json()

    def publish(self, ref: ModelRef, card: dict, files: list[tuple[Path, str | None]]) -> dict:
        """Upload each file, then create ref (which must name a version) holding them."""
        if not ref.version:
            raise UserError("publishing needs a version: owner/name@VERSION or --version")
        artifacts = []
        for path, runtime_hint in files:
            uploaded = self.upload(path)
            artifacts.append({"filename": Path(path).name, "sha256": uploaded["sha256"],
                              "runtime_hint": runtime_hint})
        return self._request("POST", f"/api/models/{ref.path}/versions",
                             json={"version": ref.version, "card": card, "artifacts": artifacts}).json()

    # -- downloading ----------------------------------------------------------------------------
    def pull(self, ref: ModelRef, dest: Path) -> tuple[dict, list[Path]]:
        """Download every file of a version into dest, each sha256-checked before it appears.
        Writes edgebench-hub.json (the version's card and file list) beside them."""
        version = {"hub": self.url, **self.version(ref)}
        dest = Path(dest)
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {dest}: {exc.strerror}") from None
        paths = [self._download(version, artifact, dest) for artifact in version["artifacts"]]
        _write_atomically(dest / MANIFEST, json.dumps(version, indent=2))
        return version, paths

    def _download(self, version: dict, artifact: dict, dest: Path) -> Path:
        import hashlib

        import httpx

        # The name comes from the server: never let it place a file outside dest.
        filename = check_filename(artifact["filename"])
        target = dest / filename
        if target.is_file() and _sha256(target) == artifact["sha256"]:
            return target  # already here and intact
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".pull-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self._http.stream("GET", artifact["url"]) as response:
                _raise_for_refusal(response)
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != artifact["sha256"]:
                raise HubIntegrityError(
                    f"{filename} from {self.url} has sha256 {digest.hexdigest()[:16]}..., the hub lists "
                    f"{artifact['sha256'][:16]}...; the download was discarded")
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a pulled model is an ordinary file
            os.replace(tmp, target)
        except httpx.HTTPError as exc:
            raise UserError(f"downloading {filename} from {self.url} failed: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return target

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, ref: ModelRef, webhook_url: str | None = None) -> dict:
        return self._request("POST", "/api/subscriptions",
                             json={"model": ref.path, "webhook_url": webhook_url}).json()

    def unsubscribe(self, ref: ModelRef) -> None:
        self._request("DELETE", f"/api/subscriptions/{ref.path}")

    def subscriptions(self) -> list[dict]:
        return self._request("GET", "/api/subscriptions").json()

    def feed(self, cursor: int = 0, limit: int = 50) -> dict:
        return self._request("GET", "/api/feed", params={"cursor": cursor, "limit": limit}).json()

    # -- results --------------------------------------------------------------------------------
    def push_results(self, ref: ModelRef, run) -> dict:
        """Upload one RunResult as results of ref (owner/name@version)."""
        return self._request("POST", "/api/results", json={
            "model": ref.path, "version": ref.version, "run": run.model_dump(mode="json")}).json()


def cache_pull(ref: ModelRef, client: HubClient | None = None) -> tuple[dict, list[Path]]:
    """A version's files in the local cache (pulled once, sha256-checked every time)."""
    from edgebench.paths import cache_dir

    if ref.version is not None:  # a pinned version pulled before runs offline
        found = _intact_cached_version(ref)
        if found is not None:
            return found
    own_client = client is None
    client = client or HubClient()
    try:
        version = client.version(ref) if ref.version is None else None
        resolved = ref.version or version["version"]
        directory = cache_dir() / "hub" / check_segment(ref.owner, "owner") / ref.name / resolved
        return client.pull(ModelRef(ref.owner, ref.name, resolved), directory)
    finally:
        if own_client:
            client.close()


def _intact_cached_version(ref: ModelRef) -> tuple[dict, list[Path]] | None:
    """A cached pull of ref whose files all still match their sha256; else None."""
    from edgebench.paths import cache_dir

    directory = cache_dir() / "hub" / ref.owner / ref.name / ref.version
    try:
        version = json.loads((directory / MANIFEST).read_text())
        paths = [directory / check_filename(a["filename"]) for a in version["artifacts"]]
        if all(p.is_file() and _sha256(p) == a["sha256"] for p, a in zip(paths, version["artifacts"])):
            return version, paths
    except (OSError, ValueError, KeyError, TypeError, UserError):
        pass  # absent or damaged: pull again
    return None


def _raise_for_refusal(response) -> None:
    if response.status_code < 400:
        return
    if hasattr(response, "read"):
        response.read()
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, str):
        detail = response.text[:200].strip() or response.reason_phrase
    raise UserError(f"hub refused ({response.status_code}): {detail}")


def _sha256(path: Path) -> str:
    from edgebench.models.artifact import sha256_of

    return sha256_of(path)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
