"""The preview's wire protocol, property-based: whatever bytes or text a client sends, the parser
answers with a frame, a ping or a ProtocolError, never anything else, and its answers keep the
frame id so every frame gets exactly one reply."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebench.preview import protocol as p

LIMITS = p.Limits(max_frame_bytes=4096)
SIGNATURES = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP"]
frame_ids = st.integers(min_value=0, max_value=p.MAX_FRAME_ID)


@given(frame_id=frame_ids, signature=st.sampled_from(SIGNATURES), body=st.binary(max_size=2000))
def test_a_well_formed_frame_round_trips(frame_id, signature, body):
    image = signature + body
    frame = p.parse_frame(p.encode_frame(frame_id, image), LIMITS)
    assert frame.id == frame_id and frame.image == image
    assert frame.image_format == {b"\xff": "JPEG", b"\x89": "PNG", b"R": "WEBP"}[signature[:1]]


@given(data=st.binary(max_size=6000))
@settings(max_examples=400)
def test_any_bytes_give_a_frame_or_a_protocol_error(data):
    try:
        frame = p.parse_frame(data, LIMITS)
    except p.ProtocolError as exc:
        assert exc.code in (p.BAD_FRAME, p.TOO_LARGE, p.BAD_IMAGE)
        assert str(exc)
        # The id is kept whenever the header was ours, so the client can match the refusal.
        assert exc.frame_id == p.peek_frame_id(data)
        return
    assert data[:4] == p.MAGIC and len(data) - p.HEADER_BYTES <= LIMITS.max_frame_bytes
    assert p.image_format(frame.image) == frame.image_format


@given(frame_id=frame_ids, extra=st.integers(min_value=1, max_value=5000))
def test_an_oversized_frame_is_refused_with_its_id(frame_id, extra):
    data = p.encode_frame(frame_id, b"\xff\xd8\xff" + b"\0" * (LIMITS.max_frame_bytes - 3 + extra))
    with pytest.raises(p.ProtocolError) as refused:
        p.parse_frame(data, LIMITS)
    assert refused.value.code == p.TOO_LARGE and refused.value.frame_id == frame_id
    assert "limit" in str(refused.value)


@given(frame_id=frame_ids, junk=st.binary(max_size=64).filter(lambda b: p.image_format(b) is None))
def test_a_frame_that_is_not_an_image_is_refused_with_its_id(frame_id, junk):
    with pytest.raises(p.ProtocolError) as refused:
        p.parse_frame(p.encode_frame(frame_id, junk), LIMITS)
    assert refused.value.code == p.BAD_IMAGE and refused.value.frame_id == frame_id


@given(text=st.text(max_size=2000))
@settings(max_examples=400)
def test_any_text_gives_a_ping_or_a_protocol_error(text):
    try:
        ping = p.parse_text(text)
    except p.ProtocolError as exc:
        assert exc.code == p.BAD_MESSAGE and exc.frame_id is None
        return
    assert math.isfinite(ping.t)
    assert json.loads(p.dumps(p.pong_message(ping))) == {"type": "pong", "t": ping.t}


@given(t=st.one_of(st.integers(min_value=-2**53, max_value=2**53), st.floats(allow_nan=False, allow_infinity=False)))
def test_a_ping_is_answered_with_its_number(t):
    assert p.parse_text(json.dumps({"type": "ping", "t": t})).t == t


@pytest.mark.parametrize("text", ['{"type": "ping", "t": NaN}', '{"type": "ping", "t": true}', '[1, 2]',
                                  '{"type": "frame"}', "not json", '{"type": "ping", "t": "1"}',
                                  "[" * 100_000, '{"type": "ping", "t": 1, "pad": "' + "x" * 2000 + '"}'])
def test_malformed_text_messages_are_refused(text):
    with pytest.raises(p.ProtocolError) as refused:
        p.parse_text(text)
    assert refused.value.code == p.BAD_MESSAGE


@given(rate=st.floats(min_value=0.5, max_value=200), burst=st.integers(min_value=1, max_value=10),
       gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=300))
def test_the_rate_limit_never_allows_more_than_burst_plus_rate_times_time(rate, burst, gaps):
    limit = p.RateLimit(rate, burst, now=0.0)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += limit.allow(now)
    assert allowed <= burst + rate * now + 1e-6


@given(rate=st.floats(min_value=0.5, max_value=200), burst=st.integers(min_value=1, max_value=10),
       count=st.integers(min_value=1, max_value=200))
def test_a_client_that_keeps_to_the_rate_is_never_dropped(rate, burst, count):
    limit = p.RateLimit(rate, burst, now=0.0)
    assert all(limit.allow(i / rate * 1.0001) for i in range(count))


def test_a_clock_stepping_back_grants_nothing():
    limit = p.RateLimit(10, 1, now=100.0)
    assert limit.allow(100.0)
    assert not limit.allow(50.0)     # backwards: no refill
    assert not limit.allow(100.05)   # half a frame's worth since the latest time seen
    assert limit.allow(100.11)


@pytest.mark.parametrize("kwargs", [{"max_frame_bytes": 10}, {"max_pixels": 5}, {"max_fps": 0},
                                    {"max_fps": float("nan")}, {"burst": 0}, {"max_side": 10},
                                    {"max_clients": 0}, {"max_frame_bytes": 2.5}])
def test_limits_refuse_nonsense(kwargs):
    with pytest.raises(ValueError):
        p.Limits(**kwargs)


def test_server_messages_are_strict_json():
    with pytest.raises(ValueError):
        p.dumps({"t": float("nan")})
    result = p.result_message(7, [{"index": 1, "label": "macaw", "score": 0.9}],
                              {"inference": 1.23456, "decode": 2}, (640, 480), 2)
    assert json.loads(p.dumps(result)) == {"type": "result", "id": 7,
                                           "top5": [{"index": 1, "label": "macaw", "score": 0.9}],
                                           "ms": {"inference": 1.235, "decode": 2.0}, "image": [640, 480],
                                           "clients": 2}
    assert p.dropped_message(3, p.RATE) == {"type": "dropped", "id": 3, "reason": "rate"}
    assert p.error_message(p.BAD_IMAGE, "x", 4)["id"] == 4
