"""Talking to a hub: what the CLI and `run --model hub://...` use.

The hub's address and token come from EDGEBENCH_HUB_URL and EDGEBENCH_HUB_TOKEN. Every refusal
becomes a UserError carrying the hub's one-line reason and HTTP status.

The client does not trust its server: every answer is parsed with the same pydantic models the
server declares (edgebench/hub/schema.py) and sized (MAX_ANSWER_BYTES; a download stops at the
size the hub listed). Anything else (not JSON, the wrong shape, a 5xx, a garbage URL, a server
that is not there) is one UserError naming the hub's URL and what was wrong. Methods return the
validated answers as plain dicts.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from edgebench.errors import UserError
from edgebench.refs import ModelRef, check_filename, check_segment

DEFAULT_URL = "http://127.0.0.1:8765"
MANIFEST = "edgebench-hub.json"
MAX_ANSWER_BYTES = 64 << 20   # a JSON answer larger than this is refused, not read into memory


class HubIntegrityError(UserError):
    """A downloaded file's sha256 is not the one the hub lists."""


def checked_url(url: str) -> str:
    """A hub URL: http(s)://host[:port][/path], or one line saying what is wrong with it."""
    import httpx

    shown = _printable(url, 200)
    if not url.startswith(("http://", "https://")):
        raise UserError(f"hub URL must start with http:// or https://: {shown}")
    if not url.isprintable() or any(c.isspace() for c in url) or len(url) > 2000:
        raise UserError(f"hub URL {shown} holds spaces or control characters, or is too long")
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port   # a bad port or host fails here, not mid-request
        parsed.raw_host  # the host as it goes on the wire (IDNA): refused here if it cannot
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError) as exc:
        raise UserError(f"hub URL {shown} is not a valid URL: {_printable(str(exc), 200)}") from None
    if not host or parsed.query or parsed.fragment:
        raise UserError(f"hub URL {shown} is not a valid hub address (expected http(s)://host[:port][/path])")
    if port is not None and not 1 <= port <= 65535:
        raise UserError(f"hub URL {shown} has port {port}, outside 1-65535")
    return url


class HubClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 120.0):
        import httpx

        self.url = checked_url((url or os.environ.get("EDGEBENCH_HUB_URL") or DEFAULT_URL).rstrip("/"))
        self.token = token if token is not None else os.environ.get("EDGEBENCH_HUB_TOKEN")
        if self.token is not None and (not self.token.isprintable() or len(self.token) > 4096):
            raise UserError("EDGEBENCH_HUB_TOKEN holds control characters or is too long: is it a token?")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        except (httpx.InvalidURL, ValueError, TypeError, UnicodeError) as exc:
            raise UserError(f"hub URL {_printable(self.url, 200)} cannot be used: {_printable(str(exc), 200)}") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, shape, **kwargs):
        """One request; its answer parsed as `shape` (a schema model, or list[model]) and
        returned as plain data. Every failure is one UserError naming this hub."""
        import httpx

        what = f"{method} {path.split('?')[0]}"
        try:
            with self._http.stream(method, path, **kwargs) as response:
                body = _read_capped(response, MAX_ANSWER_BYTES, f"the hub at {self.url} ({what})")
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach the hub at {self.url}: "
                            f"{_printable(str(exc), 300) or type(exc).__name__}") from None
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise UserError(f"cannot ask the hub at {self.url} ({what}): {_printable(str(exc), 300)}") from None
        _raise_for_refusal(response, body, self.url)
        return _parsed(body, shape, f"the hub at {self.url} answered {what}")

    # -- reading --------------------------------------------------------------------------------
    def whoami(self) -> str:
        from edgebench.hub.schema import WhoAmI

        return self._request("GET", "/api/whoami", WhoAmI)["user"]

    def search(self, q: str = "", task: str = "", tag: str = "", fmt: str = "", limit: int = 50) -> list[dict]:
        from edgebench.hub.schema import ModelSummary

        params = {k: v for k, v in {"q": q, "task": task, "tag": tag, "format": fmt}.items() if v}
        return self._request("GET", "/api/models", list[ModelSummary], params={**params, "limit": limit})

    def show(self, ref: ModelRef) -> dict:
        from edgebench.hub.schema import ModelDetail

        return self._request("GET", f"/api/models/{ref.path}", ModelDetail)

    def version(self, ref: ModelRef) -> dict:
        from edgebench.hub.schema import VersionOut

        return self._request("GET", f"/api/models/{ref.path}/versions/{ref.version or 'latest'}", VersionOut)

    def results(self, ref: ModelRef) -> list[dict]:
        from edgebench.hub.schema import DeviceResult

        return self._request("GET", f"/api/models/{ref.path}/results", list[DeviceResult])

    # -- publishing -----------------------------------------------------------------------------
    def upload(self, path: Path) -> dict:
        from edgebench.fileio import regular_file, shown
        from edgebench.hub.schema import UploadOut

        path = Path(path)
        check_filename(path.name)
        size = regular_file(path, "model file").st_size
        try:
            with open(path, "rb") as f:
                return self._request("POST", "/api/uploads", UploadOut, params={"filename": path.name},
                                     content=f, headers={"Content-Length": str(size)})
        except OSError as exc:
            raise UserError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None

    def publish(self, ref: ModelRef, card: dict, files: list[tuple[Path, str | None]]) -> dict:
        """Upload each file, then create ref (which must name a version) holding them."""
        if not ref.version:
            raise UserError("publishing needs a version: owner/name@VERSION", "version")
        from edgebench.hub.schema import VersionOut

        artifacts = []
        for path, runtime_hint in files:
            uploaded = self.upload(path)
            artifacts.append({"filename": Path(path).name, "sha256": uploaded["sha256"],
                              "runtime_hint": runtime_hint})
        return self._request("POST", f"/api/models/{ref.path}/versions", VersionOut,
                             json={"version": ref.version, "card": card, "artifacts": artifacts})

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
            digest, received = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, self._http.stream("GET", artifact["url"]) as response:
                if response.status_code >= 300:
                    _raise_for_refusal(response, _read_capped(response, 1 << 20, self.url), self.url)
                for chunk in response.iter_bytes(1 << 20):
                    received += len(chunk)
                    if received > artifact["size"]:   # a server that never stops sending
                        raise UserError(f"{filename} from the hub at {self.url} is longer than the "
                                        f"{artifact['size']} bytes the hub lists; the download was discarded")
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != artifact["sha256"]:
                raise HubIntegrityError(
                    f"{filename} from {self.url} has sha256 {digest.hexdigest()[:16]}..., the hub lists "
                    f"{artifact['sha256'][:16]}...; the download was discarded")
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a pulled model is an ordinary file
            os.replace(tmp, target)
        except httpx.HTTPError as exc:
            raise UserError(f"downloading {filename} from {self.url} failed: {_printable(str(exc), 300)}") from None
        except OSError as exc:
            raise UserError(f"cannot write {filename} into {dest}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return target

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, ref: ModelRef, webhook_url: str | None = None) -> dict:
        from edgebench.hub.schema import SubscribeOut

        return self._request("POST", "/api/subscriptions", SubscribeOut,
                             json={"model": ref.path, "webhook_url": webhook_url})

    def unsubscribe(self, ref: ModelRef) -> None:
        from edgebench.hub.schema import UnsubscribeOut

        self._request("DELETE", f"/api/subscriptions/{ref.path}", UnsubscribeOut)

    def subscriptions(self) -> list[dict]:
        from edgebench.hub.schema import SubscriptionOut

        return self._request("GET", "/api/subscriptions", list[SubscriptionOut])

    def feed(self, cursor: int = 0, limit: int = 50) -> dict:
        from edgebench.hub.schema import FeedPage

        return self._request("GET", "/api/feed", FeedPage, params={"cursor": cursor, "limit": limit})

    # -- results --------------------------------------------------------------------------------
    def push_results(self, ref: ModelRef, run) -> dict:
        """Upload one RunResult as results of ref (owner/name@version)."""
        from edgebench.hub.schema import PushOut

        return self._request("POST", "/api/results", PushOut, json={
            "model": ref.path, "version": ref.version, "run": run.model_dump(mode="json")})


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
    """A cached pull of ref whose manifest is what the hub's schema says and whose files all
    still match their sha256; else None."""
    from edgebench.hub.schema import VersionOut
    from edgebench.paths import cache_dir

    directory = cache_dir() / "hub" / ref.owner / ref.name / ref.version
    try:
        version = json.loads((directory / MANIFEST).read_text())
        VersionOut.model_validate({k: v for k, v in version.items() if k != "hub"})
        paths = [directory / check_filename(a["filename"]) for a in version["artifacts"]]
        if all(p.is_file() and _sha256(p) == a["sha256"] for p, a in zip(paths, version["artifacts"])):
            return version, paths
    except (OSError, ValueError, KeyError, TypeError, UserError, RecursionError, AttributeError):
        pass  # absent or damaged (pydantic's ValidationError is a ValueError): pull again
    return None


def _printable(text: str, limit: int) -> str:
    """Text from elsewhere (a server's answer, a URL) as one line: control characters escaped
    (an answer must not drive the terminal), cut at limit."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit * 2])
    return text if len(text) <= limit else text[:limit] + "..."


def _read_capped(response, limit: int, source: str) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise UserError(f"{source} sent more than {limit // 2**20} MiB; refused")
    return bytes(body)


def _parsed(body: bytes, shape, source: str):
    """body as JSON of `shape` (validated), returned as plain data; one line naming source if not."""
    from pydantic import TypeAdapter, ValidationError

    from edgebench.results.schema import first_problem

    try:
        data = json.loads(body)
    except RecursionError:
        raise UserError(f"{source} with JSON nested too deeply to read") from None
    except ValueError:
        start = _printable(body[:60].decode("utf-8", "replace"), 60)
        raise UserError(f"{source} with something that is not JSON ({len(body)} bytes, starting "
                        f"{start!r}): is that URL an edgebench hub?") from None
    try:
        adapter = TypeAdapter(shape)
        return adapter.dump_python(adapter.validate_python(data), mode="json")
    except ValidationError as exc:
        raise UserError(f"{source} with data edgebench does not understand: {first_problem(exc)}") from None
    except RecursionError:
        raise UserError(f"{source} with JSON nested too deeply") from None


def _raise_for_refusal(response, body: bytes, url: str) -> None:
    status = response.status_code
    if status < 300:
        return
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError, RecursionError):
        detail = None
    if not isinstance(detail, str):
        detail = body[:200].decode("utf-8", "replace").strip() or response.reason_phrase
    detail = _printable(detail, 300)
    if 300 <= status < 400:
        raise UserError(f"the hub at {url} redirected ({status}) to "
                        f"{_printable(response.headers.get('location', '?'), 200)}: is EDGEBENCH_HUB_URL right?")
    if status >= 500:
        raise UserError(f"the hub at {url} failed ({status}): {detail}")
    raise UserError(f"hub refused ({status}): {detail}")


def _sha256(path: Path) -> str:
    from edgebench.models.artifact import sha256_of

    return sha256_of(path)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
