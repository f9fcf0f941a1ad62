"""The server image serves the trained artifact under the restricted settings the
operator gives serving pods, and refuses to become ready on a wrong digest."""

from __future__ import annotations

from pathlib import Path

import httpx
from modelrelease_operator.api.release import ModelRef
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import RECORD

from . import podman
from .conftest import Trained
from .serving import start_server

MODEL = "loan-default"


def model_ref(trained: Trained, digest: str | None = None) -> ModelRef:
    return ModelRef(
        version="loan-default-v1",
        uri=trained.summary["artifactUri"],
        digest=digest or trained.summary["digest"],
        training="loan-default-v1",
    )


def test_serves_v2_predict_feedback_and_metrics(
    images: dict[str, podman.Image], trained: Trained, tmp_path: Path, container_name: str
) -> None:
    url = start_server(
        images["server"], model_ref(trained), tmp_path, container_name, store=trained.store
    )
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/v2/health/ready").json() == {"ready": True}
        inputs = [
            {
                "name": key,
                "shape": [1],
                "datatype": "BYTES" if isinstance(value, str) else "FP32",
                "data": [value],
            }
            for key, value in RECORD.items()
        ]
        infer = client.post(f"/v2/models/{MODEL}/infer", json={"id": "r1", "inputs": inputs})
        assert infer.status_code == 200, infer.text
        assert infer.json()["model_version"] == "loan-default-v1"
        predicted = client.post("/predict", json=RECORD, headers={"x-request-id": "p1"})
        assert predicted.status_code == 200, predicted.text
        (prediction,) = predicted.json()["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0
        label = prediction["label"]
        feedback = client.post("/feedback", json={"request_id": "p1", "label": label})
        assert feedback.json() == {"accepted": 1, "unknown": 0}
        families = {
            family.name: family
            for family in text_string_to_metric_families(client.get("/metrics").text)
        }
    feedback_total = {s.name: s.value for s in families["modelrelease_feedback"].samples}
    assert feedback_total["modelrelease_feedback_total"] == 1
    outcomes = {
        (s.labels["endpoint"], s.labels["outcome"]): s.value
        for s in families["modelrelease_requests"].samples
        if s.name == "modelrelease_requests_total" and s.value
    }
    assert outcomes == {
        ("infer", "success"): 1,
        ("predict", "success"): 1,
        ("feedback", "success"): 1,
    }
    digests = {
        sample.labels.get("digest")
        for family in families.values()
        for sample in family.samples
        if "digest" in sample.labels
    }
    assert trained.summary["digest"].removeprefix("sha256:") in {
        (d or "").removeprefix("sha256:") for d in digests
    }


def test_a_wrong_digest_never_becomes_ready(
    images: dict[str, podman.Image], trained: Trained, tmp_path: Path, container_name: str
) -> None:
    wrong = "sha256:" + "0" * 64
    url = start_server(
        images["server"], model_ref(trained, wrong), tmp_path, container_name, store=trained.store
    )
    ready = httpx.get(f"{url}/v2/health/ready", timeout=5)
    assert ready.status_code == 503
    assert httpx.post(f"{url}/predict", json=RECORD, timeout=5).status_code == 503
    assert "digest" in podman.logs(container_name)
