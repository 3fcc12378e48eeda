"""The hub's API at every boundary (issue 18): a real `edgebench hub serve` process on loopback
(SQLite) answers 422, never 5xx, to huge offsets and cursors, NaN/infinite/negative numbers,
huge strings and control characters; then property-based tests over its own OpenAPI schema
(schemathesis, positive and negative cases for every operation) and over results and uploads
(hypothesis), with bounded example counts, assert no 5xx and no traceback in the server's log."""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.conftest import make_run, run_cli, start_hub

pytestmark = pytest.mark.slow

# Examples per operation and mode (schemathesis), and for each of our own strategies.
SCHEMA_EXAMPLES = 25
OWN_EXAMPLES = 60


@dataclass
class Hub:
    url: str
    log: Path
    token: str
    model_sha: str

    def http(self, token: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _onnx_classifier(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub-api")
    data = tmp / "data"
    made = run_cli("hub", "token", "create", "alice", "--data", data)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    log = tmp / "server.log"
    server, url = start_hub(data, log, "--max-upload-mb", "2")
    model = tmp / "m.onnx"
    _onnx_classifier(model)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    hub = Hub(url, log, token, sha)
    with hub.http() as http:
        assert http.post("/api/uploads", params={"filename": "m.onnx"}, content=model.read_bytes()).status_code == 201
        published = http.post("/api/models/alice/m/versions", json={
            "version": "1", "card": {"tags": ["t"]}, "artifacts": [{"filename": "m.onnx", "sha256": sha}]})
        assert published.status_code == 201, published.text
        assert http.post("/api/subscriptions", json={"model": "alice/m"}).status_code == 201
    yield hub
    server.terminate()
    server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


def _no_traceback(hub: Hub) -> None:
    text = hub.log.read_text()
    assert "Traceback" not in text and "Exception in ASGI application" not in text, text[-5000:]


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def _run_document(hub: Hub) -> dict:
    """A valid push of one result of alice/m@1."""
    run = make_run(targets=("onnxruntime-fp32",))
    run.results[0].artifact = {"format": "onnx", "sha256": hub.model_sha}
    return {"model": "alice/m", "version": "1", "run": run.model_dump(mode="json")}


# -- the examples of the issue, one request each ----------------------------------------------------
@pytest.mark.parametrize("path, params", [
    ("/api/models", {"offset": 10**20}),
    ("/api/models", {"offset": -1}),
    ("/api/models", {"limit": 10**20}),
    ("/api/models", {"q": "x" * 60_000}),
    ("/api/models", {"q": "a\x00b"}),
    ("/api/models", {"tag": "\x1b[31m"}),
    ("/api/feed", {"cursor": 10**20}),
    ("/api/feed", {"cursor": 2**63}),
    ("/api/feed", {"limit": 0}),
    ("/", {"q": "%" * 20_000}),
])
def test_huge_and_odd_query_values_are_422(hub, path, params):
    with hub.http() as http:
        answer = http.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert "invalid request" in answer.json()["detail"]
    _no_traceback(hub)


@pytest.mark.parametrize("where, value, fragment", [
    ("fps", float("nan"), "not a finite number"),
    ("fps", float("inf"), "not a finite number"),
    ("fps", -5.0, "negative"),
    ("latency_ms.median", -1.0, "negative"),
    ("top1.score", 1.5, "less than or equal to 1"),
    ("energy", {"method": "m", "joules": float("inf"), "seconds": 1.0, "inferences": 1,
                "j_per_inference": 1.0, "inferences_per_j": 1.0, "avg_power_w": 1.0}, "not a finite number"),
])
def test_results_with_numbers_out_of_range_are_422(hub, where, value, fragment):
    body = _run_document(hub)
    target = body["run"]["results"][0]
    *parents, leaf = where.split(".")
    for key in parents:
        target = target[key]
    target[leaf] = value
    with hub.http() as http:
        # NaN and Infinity are not JSON; Python's encoder writes them, as a careless client would.
        import json

        answer = http.post("/api/results", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["detail"]
    _no_traceback(hub)


def test_an_fps_of_1e400_is_refused_and_the_model_page_still_answers(hub):
    import json

    text = json.dumps(_run_document(hub)).replace('"fps": 900.0', '"fps": 1e400')
    assert "1e400" in text
    with hub.http() as http:
        answer = http.post("/api/results", content=text, headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert http.get("/models/alice/m").status_code == 200
        assert http.get("/api/models/alice/m/results").status_code == 200
    _no_traceback(hub)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda b: b["run"].update(run_id="r" * 5000), "run_id"),
    (lambda b: b["run"].update(run_id="a\x01b"), "control characters"),
    (lambda b: b["run"]["results"][0].update(target="t" * 65), "target"),
    (lambda b: b["run"]["device"].update(hostname="h\x00"), "hostname"),
    (lambda b: b["run"]["results"][0].update(options={"x": _nested(40)}), "nested deeper"),
    (lambda b: b.update(model="x" * 10_000), "model"),
])
def test_results_with_bad_ids_and_sizes_are_422(hub, mutate, fragment):
    body = _run_document(hub)
    mutate(body)
    with hub.http() as http:
        answer = http.post("/api/results", json=body)
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["detail"]


@pytest.mark.parametrize("card, fragment", [
    ({"preprocessing": {"resize": 256, "crop": 224, "mean": [0, 0, 0], "std": [0, 1, 1]}}, "card.preprocessing.std"),
    ({"input": {"shape": [10**30, 3]}}, "card.input.shape"),
    ({"labels": ["x" * 300]}, "card.labels.0"),
    ({"description": "a\x00b"}, "card.description"),
])
def test_cards_out_of_bounds_are_422(hub, card, fragment):
    with hub.http() as http:
        answer = http.post("/api/models/alice/m/versions", json={
            "version": "99", "card": card, "artifacts": [{"filename": "m.onnx", "sha256": hub.model_sha}]})
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["detail"]


def test_a_valid_push_still_lands(hub):
    with hub.http() as http:
        answer = http.post("/api/results", json=_run_document(hub))
        assert answer.status_code == 201 and answer.json()["added"] == 1, answer.text
        assert http.get("/api/models/alice/m/results").json()[0]["fps"] == 900.0


# -- property-based: every operation of the OpenAPI schema (schemathesis) ---------------------------
def _operations(hub: Hub):
    import schemathesis

    schema = schemathesis.openapi.from_url(hub.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    return operations


def _pinned(operation) -> dict | None:
    """Path parameters naming the published model, where the operation takes them."""
    names = {p.name for p in operation.path_parameters}
    known = {"owner": "alice", "name": "m", "version": "1", "filename": "m.onnx"}
    return {n: known[n] for n in names} if names and names <= set(known) else None


def test_no_operation_answers_5xx_to_generated_requests(hub):
    from schemathesis import GenerationMode

    counts: dict[str, int] = {}
    for operation in _operations(hub):
        variants = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if _pinned(operation):
            variants.append((GenerationMode.POSITIVE, _pinned(operation)))
        for mode, path_parameters in variants:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            seen = []

            @settings(max_examples=SCHEMA_EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case):
                headers = {"Authorization": f"Bearer {hub.token}"} if path_parameters else None
                response = case.call(base_url=hub.url, headers=headers, timeout=60)
                seen.append(response.status_code)
                assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

            try:
                check()
            except Unsatisfiable:   # e.g. no negative case exists for an operation with no inputs
                assert mode == GenerationMode.NEGATIVE and not seen, operation.label
            counts[f"{operation.label} {mode.value}{' pinned' if path_parameters else ''}"] = len(seen)
    print("schemathesis examples per operation:", counts, "total", sum(counts.values()))
    assert sum(counts.values()) >= 15 * SCHEMA_EXAMPLES
    _no_traceback(hub)


# -- property-based: results pushes with numbers and text at every boundary (hypothesis) -----------
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**53, 2**53 + 1, 2**63, -(2**63) - 1]))
TEXT = st.one_of(st.text(max_size=80), st.text(min_size=200, max_size=400),
                 st.sampled_from(["", " ", "\x00", "\x1b[2J", "a/b", "../x", "x" * 30_000]))
LEAVES = st.one_of(NUMBERS, TEXT, st.none(), st.booleans(), st.lists(NUMBERS, max_size=3),
                   st.dictionaries(TEXT, NUMBERS, max_size=2))


def _paths(value, prefix=()):
    """Every place in a JSON document where a value could be replaced."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, i))


def _replace(document, path, new):
    if not path:
        return new
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return document


def test_results_pushes_mutated_at_every_place_never_5xx(hub):
    import json

    base = _run_document(hub)
    places = [p for p in _paths(base) if p]
    statuses: dict[int, int] = {}

    @settings(max_examples=OWN_EXAMPLES * 3, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(place=st.sampled_from(places), value=LEAVES)
    def check(place, value):
        body = _replace(copy.deepcopy(base), place, value)
        # Not json=: httpx refuses NaN; a hostile client does not.
        text = json.dumps(body, allow_nan=True)
        with hub.http() as http:
            answer = http.post("/api/results", content=text, headers={"Content-Type": "application/json"})
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (place, repr(value)[:200], answer.text[:300])
        if any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(value)) and place[-1] in {
                "fps", "median", "mean", "joules", "score"}:
            assert answer.status_code == 422, (place, value, answer.text)

    check()
    print("results push statuses:", statuses)
    assert 422 in statuses
    _no_traceback(hub)


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def test_search_and_feed_with_any_integers_and_text_never_5xx(hub):
    @settings(max_examples=OWN_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(offset=st.integers(-(2**80), 2**80), limit=st.integers(-(2**80), 2**80),
           cursor=st.integers(-(2**80), 2**80), q=TEXT, tag=TEXT)
    def check(offset, limit, cursor, q, tag):
        with hub.http() as http:
            for path, params in (("/api/models", {"offset": offset, "limit": limit, "q": q, "tag": tag}),
                                 ("/api/feed", {"cursor": cursor, "limit": limit}),
                                 ("/", {"q": q, "format": tag})):
                answer = http.get(path, params=params)
                assert answer.status_code in (200, 422), (path, params, answer.text[:300])

    check()
    _no_traceback(hub)


def test_uploads_of_arbitrary_bytes_never_5xx(hub):
    base = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "coral" / "mobilenet_v2_1.0_224_quant.tflite"
    seed = base.read_bytes()[:300_000] if base.is_file() else b"\x1c\x00\x00\x00TFL3" + bytes(400)

    @settings(max_examples=OWN_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.one_of(st.binary(max_size=4096), st.binary(min_size=4, max_size=4096).map(
               lambda b: b[:4] + b"TFL3" + b[4:]),
               st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=40).map(
               lambda edits: _edited(seed, edits))),
           suffix=st.sampled_from([".tflite", ".onnx"]))
    def check(data, suffix):
        with hub.http() as http:
            answer = http.post("/api/uploads", params={"filename": "f" + suffix}, content=data)
        assert answer.status_code in (201, 413, 422), answer.text[:300]

    check()
    _no_traceback(hub)


def _edited(seed: bytes, edits) -> bytes:
    data = bytearray(seed)
    for at, byte in edits:
        data[at] = byte
    return bytes(data)
