"""Malformed bodies of every kind never get a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import MODEL, RECORD, Server

PATHS = ["/predict", f"/v2/models/{MODEL}/infer", "/feedback"]
FEATURES = list(RECORD)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["NaN", "nan", "inf", "-Infinity", "1e999", "", "car", "rent"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)
records = st.fixed_dictionaries(
    {}, optional={name: st.one_of(scalars, json_values) for name in FEATURES}
)
tensors = st.fixed_dictionaries(
    {
        "name": st.one_of(st.sampled_from(["input-0", *FEATURES]), st.text(max_size=5)),
        "shape": st.one_of(st.lists(st.integers(-2, 20), max_size=3), json_values),
        "datatype": st.one_of(st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "X"]), scalars),
        "data": st.one_of(
            st.lists(st.one_of(scalars, st.lists(scalars, max_size=14)), max_size=28), json_values
        ),
    }
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    records.map(orjson.dumps),
    st.lists(records, max_size=3).map(orjson.dumps),
    st.lists(tensors, max_size=3).map(lambda t: orjson.dumps({"inputs": t})),
    st.builds(
        lambda i, label: orjson.dumps({"request_id": i, "label": label}),
        st.one_of(st.text(max_size=6), scalars),
        json_values,
    ),
)


def send(server: Server, path: str, body: bytes) -> httpx.Response:
    return httpx.post(
        server.url + path,
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), body=bodies)
def test_malformed_bodies_never_get_a_5xx(server: Server, path: str, body: bytes) -> None:
    response = send(server, path, body)
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=records, extra=st.dictionaries(st.sampled_from(FEATURES), scalars))
def test_records_with_odd_values_never_get_a_5xx(
    server: Server, record: dict[str, Any], extra: dict[str, Any]
) -> None:
    response = send(server, "/predict", orjson.dumps({**RECORD, **record, **extra}))
    assert response.status_code < 500, response.text
    assert server.process.poll() is None
