"""/metrics moves as requests and feedback arrive, with the series names the analysis reads."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.server.conftest import MODEL, RECORD, VERSION, Server, start_server

LABELS = {"model": MODEL, "version": VERSION}


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset({**LABELS, **labels}.items())), 0.0)


def test_metrics_follow_requests_and_feedback(server: Server, loan_default_artifact: Path) -> None:
    before = server.metrics()
    with server.client() as http:
        response = http.post("/predict", json=[RECORD, RECORD], headers={"x-request-id": "m"})
        label = response.json()["predictions"][0]["label"]
        http.post("/predict", json={"age": 3})  # missing features
        http.post(f"/v2/models/{MODEL}/infer", content=b"{oops")
        http.post(
            "/feedback",
            json=[
                {"request_id": "m.0", "label": label},
                {"request_id": "m.1", "label": 1 - label},
                {"request_id": "gone", "label": 0},
            ],
        )
    after = server.metrics()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "modelrelease_requests_total"
    assert delta(requests, endpoint="predict", outcome="success") == 1
    assert delta(requests, endpoint="predict", outcome="client_error") == 1
    assert delta(requests, endpoint="infer", outcome="client_error") == 1
    assert delta(requests, endpoint="feedback", outcome="success") == 1
    assert delta("modelrelease_input_errors_total", reason="missing_feature") == 1
    assert delta("modelrelease_input_errors_total", reason="invalid_json") == 1
    assert delta("modelrelease_request_duration_seconds_count", endpoint="predict") == 2
    assert delta("modelrelease_prediction_score_count") == 2
    assert delta("modelrelease_feedback_total") == 2
    assert delta("modelrelease_feedback_correct_total") == 1
    assert delta("modelrelease_feedback_unknown_total") == 1

    # The score histogram's buckets are exactly reference.json's edges (plus +Inf).
    reference = json.loads((loan_default_artifact / "reference.json").read_text())
    bounds = sorted(
        float(dict(labels)["le"])
        for name, labels in after
        if name == "modelrelease_prediction_score_bucket" and dict(labels).get("model") == MODEL
    )
    assert bounds == [*reference["score"]["edges"], float("inf")]
    digest = (loan_default_artifact / "model.sha256").read_text().strip()
    assert value(after, "modelrelease_model_info", digest=f"sha256:{digest}") == 1


def test_duration_buckets_resolve_milliseconds(server: Server) -> None:
    text = httpx.get(f"{server.url}/metrics").text
    bounds = {
        line.split('le="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("modelrelease_request_duration_seconds_bucket")
    }
    assert {"0.001", "0.002", "0.005", "5.0", "+Inf"} <= bounds


def test_metrics_are_summed_over_workers(loan_default_artifact: Path, tmp_path: Path) -> None:
    server = start_server(
        loan_default_artifact, tmp_path / "log", workers="2", metrics_dir=str(tmp_path / "prom")
    )
    try:
        for _ in range(3):  # wait for both workers: liveness only proves one
            if httpx.get(f"{server.url}/v2/health/ready").status_code == 200:
                break
        with server.client() as http:
            for _ in range(20):
                # A fresh connection each time, so that the kernel spreads them over workers.
                http.post("/predict", json=RECORD, headers={"connection": "close"})
        samples = server.metrics()
        ok = value(samples, "modelrelease_requests_total", endpoint="predict", outcome="success")
        assert ok == 20
        assert value(samples, "modelrelease_prediction_score_count") == 20
        digest = (loan_default_artifact / "model.sha256").read_text().strip()
        assert value(samples, "modelrelease_model_info", digest=f"sha256:{digest}") == 1
    finally:
        assert server.stop() == 0
