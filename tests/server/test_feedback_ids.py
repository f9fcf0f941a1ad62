"""Feedback ids: labels judged by whichever worker of whichever pod of a release they
reach, and counted for the version that made the prediction."""

from __future__ import annotations

import hmac
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from modelrelease_operator.release.observations import parse_exposition
from modelrelease_server import feedback
from modelrelease_server.metrics import MAX_FEEDBACK_VERSIONS, ServerMetrics

from tests.realmetrics.traffic import loan_records
from tests.server.conftest import MODEL, RECORD, VERSION, Server, start_server

KEY = "release-uid-1234"
FEEDBACK = "modelrelease_feedback_total"
CORRECT = "modelrelease_feedback_correct_total"
UNKNOWN = "modelrelease_feedback_unknown_total"


# -- the token on its own -------------------------------------------------------------------


def tokens(key: bytes = b"k", version: str = "v1") -> feedback.FeedbackTokens:
    return feedback.FeedbackTokens(key, MODEL, version, (0, 1))


def test_a_token_says_who_predicted_what() -> None:
    issued = tokens().issue(np.array([1, 0, 1]), np.array([0.9, 0.2, 0.7]))
    assert issued[0] == issued[2] != issued[1]
    found = tokens(version="v2").check(issued[1], ttl_seconds=60)
    assert found is not None
    assert (found.model, found.version, found.predicted) == (MODEL, "v1", 0)
    assert not found.regression
    assert abs(found.issued_at - time.time()) < 5
    # Header-safe: base64url and one dot.
    assert all(c.isalnum() or c in "-_." for c in issued[0])

    values = np.array([1.25, -3.5], dtype=np.float32)
    regression = [tokens().check(t, 60) for t in tokens().issue(None, values)]
    assert [(r.regression, r.predicted) for r in regression if r] == [(True, 1.25), (True, -3.5)]


def forge(model: str, version: str, issued_at: float, key: bytes = b"k") -> str:
    payload = orjson.dumps([feedback.TOKEN_FORMAT, model, version, int(issued_at), "c", 1])
    mac = hmac.digest(key, feedback._MAC_CONTEXT + payload, "sha256")
    return f"{feedback._b64(payload)}.{feedback._b64(mac[: feedback.MAC_BYTES])}"


def test_only_tokens_of_the_same_key_model_and_time_are_known() -> None:
    (good,) = tokens().issue(np.array([1]), np.array([0.9]))
    check = tokens().check
    payload, mac = good.split(".")
    other_payload = feedback._b64(feedback._unb64(payload).replace(b'"v1"', b'"v9"'))
    assert check(good, 60) is not None
    assert tokens(b"another key").check(good, 60) is None  # another release
    assert check(f"{other_payload}.{mac}", 60) is None  # a changed version
    assert check(good[:-2] + ("AA" if good[-2:] != "AA" else "BB"), 60) is None
    assert check(good.replace(".", ""), 60) is None
    assert check("", 60) is None and check("é.é", 60) is None and check(7, 60) is None
    assert check("x" * 5000, 60) is None
    now = time.time()
    assert check(forge(MODEL, "v1", now), 60) is not None
    assert check(forge("other-model", "v1", now), 60) is None
    assert check(forge(MODEL, "v1", now - 120), 60) is None  # expired
    assert check(forge(MODEL, "v1", now + 60), 60) is not None  # another pod's clock
    assert check(forge(MODEL, "v1", now + 3600), 60) is None
    # Integrity only without a key, but garbling is still caught.
    (keyless,) = tokens(b"").issue(np.array([0]), np.array([0.1]))
    assert tokens(b"").check(keyless, 60) is not None
    assert tokens(b"").check(keyless[:-1] + ("A" if keyless[-1] != "A" else "B"), 60) is None


def test_counted_versions_per_process_are_bounded() -> None:
    metrics = ServerMetrics(MODEL, VERSION, "", (0.5,))
    assert metrics.count_feedback(VERSION, 2, 1)
    for n in range(MAX_FEEDBACK_VERSIONS - 1):
        assert metrics.count_feedback(f"other-{n}", 1, 1)
    assert not metrics.count_feedback("one-too-many", 1, 1)
    assert metrics.count_feedback("other-0", 1, 0)  # a version already counted still is


# -- over HTTP --------------------------------------------------------------------------------


def test_every_prediction_carries_feedback_ids(client: httpx.Client) -> None:
    one = client.post("/predict", json=RECORD)
    (prediction,) = one.json()["predictions"]
    assert one.headers["x-feedback-id"] == prediction["feedback_id"]
    many = client.post("/predict", json=[RECORD, RECORD])
    assert "x-feedback-id" not in many.headers
    assert len({p["feedback_id"] for p in many.json()["predictions"]}) == 1  # one class, one second

    kinds = {k: "BYTES" if isinstance(v, str) else "FP64" for k, v in RECORD.items()}
    inputs = [
        {"name": k, "shape": [1], "datatype": kinds[k], "data": [v]} for k, v in RECORD.items()
    ]
    single = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert single.status_code == 200, single.text
    (token,) = single.json()["parameters"]["feedback_ids"]
    assert single.headers["x-feedback-id"] == token
    double = [{**i, "shape": [2], "data": i["data"] * 2} for i in inputs]
    answer = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": double}).json()
    assert len(answer["parameters"]["feedback_ids"]) == 2


def test_feedback_by_id_counts_each_label_sent(server: Server, client: httpx.Client) -> None:
    before = server.metrics()
    (prediction,) = client.post("/predict", json=RECORD).json()["predictions"]
    token, label = prediction["feedback_id"], prediction["label"]
    sent = client.post(
        "/feedback",
        json=[
            {"feedback_id": token, "label": label},
            {"feedback_id": token, "label": 1 - label},  # no state: a repeat counts again
            {"feedback_id": token + "x", "label": label},
            {"feedback_id": "not-a-token", "label": label},
        ],
    )
    assert sent.json() == {"accepted": 2, "unknown": 2}
    assert client.post("/feedback", json={"feedback_id": 3, "label": 0}).status_code == 400
    after = server.metrics()

    def delta(name: str) -> float:
        labels = frozenset({"model": MODEL, "version": VERSION}.items())
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert (delta(FEEDBACK), delta(CORRECT), delta(UNKNOWN)) == (2, 1, 2)


@pytest.fixture
def release(loan_default_artifact: Path, tmp_path: Path) -> Iterator[dict[str, Server]]:
    """Two versions of one release (the same artifact under two version names), each
    with two workers, and a server of another release (another key)."""
    servers: dict[str, Server] = {}
    try:
        for name, version, key in (("a", "v1", KEY), ("b", "v2", KEY), ("other", "v1", "x")):
            servers[name] = start_server(
                loan_default_artifact,
                tmp_path / f"{name}.log",
                workers="2",
                metrics_dir=str(tmp_path / f"prom-{name}"),
                model_version=version,
                feedback_key=key,
            )
        for running in servers.values():
            wait_ready(running)
        yield servers
    finally:
        for running in servers.values():
            assert running.stop() == 0, running.log.read_text()


def wait_ready(server: Server) -> None:
    for _ in range(100):
        if httpx.get(f"{server.url}/v2/health/ready").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(server.log.read_text())


def fresh(url: str, path: str, body: object) -> httpx.Response:
    """One request on a connection of its own: the kernel spreads them over the workers."""
    return httpx.post(f"{url}{path}", json=body, headers={"connection": "close"}, timeout=10)


def test_labels_count_for_the_version_that_predicted_wherever_they_land(
    release: dict[str, Server],
) -> None:
    a, b, other = release["a"], release["b"], release["other"]
    records = loan_records(120, seed=5)
    expected: dict[str, Counter[str]] = {"v1": Counter(), "v2": Counter()}
    labels = []
    for n, (record, truth) in enumerate(records):
        predicted_by = a if n % 2 == 0 else b
        (prediction,) = fresh(predicted_by.url, "/predict", record).json()["predictions"]
        version = "v1" if predicted_by is a else "v2"
        expected[version]["total"] += 1
        expected[version]["correct"] += prediction["label"] == truth
        labels.append({"feedback_id": prediction["feedback_id"], "label": truth})
    # Every label to a server of the *other* version, one by one, over both its workers.
    for n, label in enumerate(labels):
        answer = fresh((b if n % 2 == 0 else a).url, "/feedback", label).json()
        assert answer == {"accepted": 1, "unknown": 0}
    # Another release's server knows none of them.
    assert fresh(other.url, "/feedback", labels[:10]).json() == {"accepted": 0, "unknown": 10}

    texts = [httpx.get(f"{s.url}/metrics").text for s in (a, b)]
    seen = parse_exposition(texts, MODEL)
    for version in ("v1", "v2"):
        assert seen[version].feedback == expected[version]["total"] == 60
        assert seen[version].feedback_correct == expected[version]["correct"]
    # The v2 server counted all of v1's labels (and none of its own), and vice versa.
    on_b = parse_exposition([texts[1]], MODEL)
    assert on_b["v1"].feedback == 60 and on_b["v2"].feedback == 0
    assert 0.6 < expected["v1"]["correct"] / 60 <= 1.0
