"""The HTTP API of the real server on the real trained artifact."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import xgboost as xgb

from tests.server.conftest import MODEL, RECORD, VERSION, Server

INFER = f"/v2/models/{MODEL}/infer"


def card(artifact: Path) -> dict[str, object]:
    return dict(json.loads((artifact / "model-card.json").read_text()))


def matrix_row(artifact: Path) -> list[float]:
    """RECORD as the booster's row: categoricals as their index in the card."""
    row = []
    for feature in card(artifact)["features"]:  # type: ignore[attr-defined]
        value = RECORD[feature["name"]]
        row.append(float(feature["categories"].index(value)) if "categories" in feature else value)
    return row


def tensor(rows: list[list[float]], name: str = "input-0") -> dict[str, object]:
    return {"name": name, "shape": [len(rows), len(rows[0])], "datatype": "FP32", "data": rows}


def test_health_and_model_readiness(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get(f"/v2/models/{MODEL}/ready").status_code == 200
    assert client.get(f"/v2/models/{MODEL}/versions/{VERSION}/ready").status_code == 200
    assert client.get("/v2/models/other/ready").status_code == 404


def test_model_metadata(client: httpx.Client, loan_default_artifact: Path) -> None:
    metadata = client.get(f"/v2/models/{MODEL}").json()
    assert metadata["name"] == MODEL
    assert metadata["versions"] == [VERSION]
    assert metadata["platform"] == "xgboost"
    names = [f["name"] for f in card(loan_default_artifact)["features"]]  # type: ignore[attr-defined]
    assert metadata["inputs"][0] == {
        "name": "input-0",
        "datatype": "FP32",
        "shape": [-1, len(names)],
    }
    assert [i["name"] for i in metadata["inputs"][1:]] == names
    assert metadata["outputs"][0]["name"] == "predict"
    assert client.get(f"/v2/models/{MODEL}/versions/{VERSION}").status_code == 200
    assert client.get(f"/v2/models/{MODEL}/versions/v999").status_code == 404


def test_v2_matrix_tensor_matches_the_booster(
    client: httpx.Client, loan_default_artifact: Path
) -> None:
    import numpy as np

    row = matrix_row(loan_default_artifact)
    rows = [row, [*row[:1], 80.0, *row[2:]], row]
    response = client.post(INFER, json={"id": "req-1", "inputs": [tensor(rows)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1" and response.headers["x-request-id"] == "req-1"
    assert body["model_name"] == MODEL and body["model_version"] == VERSION
    (output,) = body["outputs"]
    assert output["name"] == "predict" and output["shape"] == [3, 1]
    assert output["datatype"] == "FP32"
    booster = xgb.Booster(model_file=str(loan_default_artifact / "model.ubj"))
    expected = booster.inplace_predict(np.asarray(rows, dtype=np.float32))
    assert output["data"] == pytest.approx(expected.tolist(), rel=1e-6)


def test_v2_flat_data_versioned_route_and_extra_outputs(
    client: httpx.Client, loan_default_artifact: Path
) -> None:
    row = matrix_row(loan_default_artifact)
    request = {
        "inputs": [{"name": "x", "shape": [2, len(row)], "datatype": "FP64", "data": row + row}],
        "outputs": [{"name": "predict"}, {"name": "label"}, {"name": "predict_proba"}],
    }
    response = client.post(f"/v2/models/{MODEL}/versions/{VERSION}/infer", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    predict, label, proba = body["outputs"]
    assert len(body["id"]) >= 16 and response.headers["x-request-id"] == body["id"]
    assert label["shape"] == [2] and set(label["data"]) <= {0, 1}
    assert proba["shape"] == [2, 2]
    assert proba["data"][1] == pytest.approx(predict["data"][0], rel=1e-6)


def test_v2_one_input_per_feature_with_bytes_categoricals(
    client: httpx.Client, loan_default_artifact: Path
) -> None:
    by_matrix = client.post(INFER, json={"inputs": [tensor([matrix_row(loan_default_artifact)])]})
    inputs = [
        {
            "name": name,
            "shape": [1],
            "datatype": "BYTES" if isinstance(value, str) else "FP32",
            "data": [value],
        }
        for name, value in RECORD.items()
    ]
    by_feature = client.post(INFER, json={"inputs": inputs}, headers={"x-request-id": "hdr-7"})
    assert by_feature.status_code == 200, by_feature.text
    assert by_feature.json()["id"] == "hdr-7"
    assert by_feature.json()["outputs"][0]["data"] == by_matrix.json()["outputs"][0]["data"]


def test_predict_records(client: httpx.Client) -> None:
    one = client.post("/predict", json=RECORD)
    assert one.status_code == 200, one.text
    body = one.json()
    (prediction,) = body["predictions"]
    assert prediction["request_id"] == body["request_id"] == one.headers["x-request-id"]
    assert 0.0 <= prediction["score"] <= 1.0 and prediction["label"] in (0, 1)
    unseen = {**RECORD, "purpose": "a category never seen"}
    many = client.post("/predict", json=[RECORD, unseen, RECORD], headers={"x-request-id": "b"})
    ids = [p["request_id"] for p in many.json()["predictions"]]
    assert ids == ["b.0", "b.1", "b.2"]
    assert many.json()["predictions"][0]["score"] == pytest.approx(prediction["score"])
    wrapped = client.post("/predict", json={"instances": [RECORD]})
    assert wrapped.json()["predictions"][0]["score"] == pytest.approx(prediction["score"])


def test_feedback(client: httpx.Client) -> None:
    response = client.post("/predict", json=[RECORD, RECORD], headers={"x-request-id": "fb"})
    label = response.json()["predictions"][0]["label"]
    sent = client.post(
        "/feedback",
        json=[
            {"request_id": "fb.0", "label": label},
            {"request_id": "fb.1", "label": 1 - label},
            {"request_id": "fb.1", "label": label},  # a repeat is not counted twice
            {"request_id": "never-seen", "label": 1},
        ],
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"accepted": 2, "unknown": 2}
    single = client.post("/feedback", json={"request_id": "nope", "label": 0})
    assert single.json() == {"accepted": 0, "unknown": 1}


BAD = [
    # (method, path, body bytes, headers, status, words in the message)
    ("POST", INFER, b"{not json", {}, 400, "invalid JSON"),
    ("POST", INFER, b'{"inputs": []}', {}, 400, "inputs"),
    ("POST", INFER, b'{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",'
     b' "data": [1, 2, 3]}]}', {}, 400, "shape"),
    ("POST", INFER, b'{"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32",'
     b' "data": [1, 2]}]}', {}, 400, "values"),
    ("POST", INFER, b'{"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32",'
     b' "data": ["a","b","c","d","e","f","g","h","i","j","k","l","m"]}]}', {}, 400, "x"),
    ("POST", INFER, b'{"inputs": [{"name": "x", "shape": [1, 13], "datatype": "BYTES",'
     b' "data": []}]}', {}, 400, "datatype"),
    ("POST", INFER, b'{"inputs": [{"name": "age", "shape": [1], "datatype": "FP32",'
     b' "data": [1]}]}', {}, 400, "missing input"),
    ("POST", INFER, b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]},'
     b' {"name": "b", "shape": [1], "datatype": "FP32", "data": [1]}]}', {}, 400, "unknown"),
    ("POST", INFER, b'{"id": 5, "inputs": [{"name": "x"}]}', {}, 400, "'id'"),
    ("POST", "/v2/models/other/infer", b"{}", {}, 404, "unknown model"),
    ("GET", INFER, b"", {}, 405, "POST"),
    ("POST", "/predict", b'{"age": 1}', {}, 400, "missing feature"),
    ("POST", "/predict", json.dumps({**RECORD, "color": 1}).encode(), {}, 400, "color"),
    ("POST", "/predict", json.dumps({**RECORD, "age": "old"}).encode(), {}, 400, "age"),
    ("POST", INFER, json.dumps({"inputs": [{"name": "x", "shape": [501, 13], "datatype": "FP32",
     "data": [0] * 501 * 13}]}).encode(), {}, 413, "limit"),
    ("POST", "/predict", b"[" + b"1," * 40000 + b"1]", {}, 413, "body"),
    ("POST", "/predict", b"{}", {"content-type": "application/xml"}, 415, "content type"),
    ("POST", "/predict", b"[]", {}, 400, "no records"),
    ("POST", "/feedback", b'{"label": 1}', {}, 400, "request_id"),
    ("POST", "/feedback", b'{"request_id": "x"}', {}, 400, "label"),
    ("GET", "/nowhere", b"", {}, 404, "no route"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "words"), BAD)
def test_bad_input_gets_its_4xx(
    client: httpx.Client,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    response = client.request(
        method, path, content=body, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


def test_server_keeps_serving(server: Server) -> None:
    with server.client() as http:
        assert http.post("/predict", json=RECORD).status_code == 200
    assert server.process.poll() is None


def test_concurrent_requests_each_get_their_own_rows(
    server: Server, loan_default_artifact: Path
) -> None:
    """Concurrent requests are batched into one booster call; each must get its own rows."""
    import asyncio

    import numpy as np

    base = matrix_row(loan_default_artifact)
    requests = [[[*base[:1], 20.0 + i * 3000, *base[2:]]] * (1 + i % 3) for i in range(24)]
    booster = xgb.Booster(model_file=str(loan_default_artifact / "model.ubj"))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            return await asyncio.gather(
                *(http.post(INFER, json={"inputs": [tensor(rows)]}) for rows in requests)
            )

    for rows, response in zip(requests, asyncio.run(run()), strict=True):
        expected = booster.inplace_predict(np.asarray(rows, dtype=np.float32))
        assert response.json()["outputs"][0]["data"] == pytest.approx(expected.tolist(), rel=1e-6)
