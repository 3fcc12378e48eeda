import pytest

from edgebench.protocol import CLASSIC, PROTOCOLS, Protocol


def test_classic_is_the_articles_protocol():
    assert (CLASSIC.warmup, CLASSIC.settle_s, CLASSIC.runs) == (1, 1.0, 250)
    assert PROTOCOLS["classic"] is CLASSIC


def test_overrides_replace_only_given_fields():
    p = CLASSIC.with_overrides(runs=10)
    assert (p.warmup, p.settle_s, p.runs, p.name) == (1, 1.0, 10, "classic")
    assert CLASSIC.runs == 250


@pytest.mark.parametrize("kwargs", [{"runs": 0}, {"warmup": -1}, {"settle_s": -0.1}])
def test_invalid_protocol_is_rejected(kwargs):
    with pytest.raises(ValueError):
        Protocol(**{"name": "x", "warmup": 1, "settle_s": 0.0, "runs": 5, **kwargs})


def test_rigorous_preset():
    from edgebench.protocol import RIGOROUS

    assert (RIGOROUS.warmup, RIGOROUS.warmup_s, RIGOROUS.runs, RIGOROUS.min_duration_s,
            RIGOROUS.repetitions) == (50, 2.0, 1000, 10.0, 3)
