"""The HTTP API as a bare ASGI application: routing here costs less than a framework's."""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from . import artifact as artifacts
from . import feedback, v2
from .inputs import InputError, Schema
from .metrics import CONTENT_TYPE, ServerMetrics
from .predictor import Predictor
from .settings import Settings

log = logging.getLogger("modelrelease_server")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
# Bodies curl and common clients send JSON with; anything else is refused with 415.
ACCEPTED_CONTENT_TYPES = frozenset(
    {"", "application/json", "text/plain", "application/x-www-form-urlencoded"}
)


class Reply(Exception):
    """Ends a request early with a JSON error body."""

    def __init__(self, status: int, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


class Server:
    """ASGI callable serving one model; built once per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.failure: str | None = None
        self.model: artifacts.Artifact | None
        try:
            self.model = artifacts.load(
                settings.artifact,
                settings.expected_digest,
                name=settings.model_name,
                version=settings.model_version,
                nthread=settings.nthread,
            )
        except artifacts.ArtifactError as error:
            self.failure = str(error)
            log.error("model not loaded, readiness will fail: %s", error)
            self.model = None
        if self.model is not None:
            name, version = self.model.name, self.model.version
        else:
            card_name, card_version = artifacts.describe(settings.artifact)
            name = settings.model_name or card_name or "unknown"
            version = settings.model_version or card_version or "unknown"
        self.name, self.version = name, version
        if self.model is not None:
            if settings.expected_digest is None:
                log.warning("no expected digest configured; trusted the artifact's model.sha256")
            self.predictor = Predictor(
                self.model,
                settings.threshold,
                batching=settings.batching,
                batch_window=settings.batch_window_ms / 1000,
                max_batch_rows=settings.max_batch_rows,
            )
            self.schema = Schema(self.model.features, settings.max_rows)
            log.info(
                "serving %s version %s (sha256:%s) from %s",
                name,
                version,
                self.model.digest,
                settings.artifact,
            )
        self.metrics = ServerMetrics(
            name, version, self.model.digest if self.model else "", self._edges()
        )
        self.store = feedback.PredictionStore(
            settings.feedback_capacity, settings.feedback_ttl_seconds
        )
        self.tokens = feedback.FeedbackTokens(
            settings.feedback_key.get_secret_value().encode(),
            name,
            version,
            self.model.classes if self.model else (),
        )
        self.metadata = orjson.dumps(v2.metadata(self.model, name, version)) if self.model else b""

    def _edges(self) -> tuple[float, ...]:
        return self.model.score_edges if self.model else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # Objects alive now (model, modules) never die; freezing them keeps
                    # them out of every later collection, shortening GC pauses.
                    gc.freeze()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- dispatch -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        parts = scope["path"].strip("/").split("/")
        endpoint = _endpoint(parts)
        headers: Headers = []
        try:
            if parts[0] == "v2":
                status, body, headers = await self._v2(parts, method, scope, receive)
            elif parts == ["predict"]:
                _allow(method, "POST")
                status, body, headers = await self._predict(scope, receive)
            elif parts == ["feedback"]:
                _allow(method, "POST")
                status, body = await self._feedback(scope, receive)
            elif parts == ["metrics"]:
                _allow(method, "GET")
                await _respond(send, 200, self.metrics.render(), CONTENT_TYPE.encode())
                return
            else:
                raise Reply(404, f"no route {scope['path']}", "not_found")
        except Reply as reply:
            status, body = reply.status, orjson.dumps({"error": reply.message})
            if endpoint is not None and status < 500:
                self.metrics.input_error(reply.reason)
        except InputError as error:
            status, body = error.status, orjson.dumps({"error": error.message})
            self.metrics.input_error(error.reason)
        except Exception as error:  # the last line of defence: answer, count, keep serving
            log.exception("unexpected error on %s %s", method, scope["path"])
            status, body = 500, orjson.dumps({"error": f"internal error: {type(error).__name__}"})
        await _respond(send, status, body, JSON, headers)
        if endpoint is not None:
            outcome = (
                "success" if status < 400 else "client_error" if status < 500 else "server_error"
            )
            self.metrics.requests[endpoint, outcome].inc()
            self.metrics.duration[endpoint].observe(time.perf_counter() - started)

    async def _v2(
        self, parts: list[str], method: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, Headers]:
        if parts in (["v2", "health", "live"], ["v2", "health", "ready"], ["v2"]):
            _allow(method, "GET")
            if parts[-1] == "live":
                return 200, b'{"live":true}', []
            if parts[-1] == "ready":
                return *self._readiness(), []
            return 200, b'{"name":"modelrelease-server","extensions":[]}', []
        # /v2/models/{name}[/versions/{version}][/ready|/infer]
        if len(parts) < 3 or parts[1] != "models":
            raise Reply(404, f"no route {scope['path']}", "not_found")
        name, rest = parts[2], parts[3:]
        if len(rest) >= 2 and rest[0] == "versions":
            if rest[1] != self.version and self.model is not None:
                raise Reply(404, f"model {name!r} has no version {rest[1]!r}", "unknown_model")
            rest = rest[2:]
        if name != self.name and self.model is not None:
            raise Reply(
                404, f"unknown model {name!r}; this server serves {self.name!r}", "unknown_model"
            )
        if not rest:
            _allow(method, "GET")
            if self.model is None:
                raise Reply(503, f"model not ready: {self.failure}", "not_ready")
            return 200, self.metadata, []
        if rest == ["ready"]:
            _allow(method, "GET")
            return *self._readiness(), []
        if rest == ["infer"]:
            _allow(method, "POST")
            return await self._infer(scope, receive)
        raise Reply(404, f"no route {scope['path']}", "not_found")

    def _readiness(self) -> tuple[int, bytes]:
        if self.model is None:
            return 503, orjson.dumps({"ready": False, "error": self.failure})
        return 200, b'{"ready":true}'

    # -- endpoints ------------------------------------------------------------------------

    async def _infer(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        self._require_model()
        payload = await self._json(scope, receive)
        request = self.schema.decode_v2(payload)
        outputs = request.outputs or ("predict",)
        prediction = await self.predictor.predict(request.matrix)
        request_id = request.request_id or _header_id(scope) or uuid.uuid4().hex
        if not _valid_id(request_id):
            raise InputError("bad_request", "'id' must be 1-256 printable ASCII characters")
        rows = request.matrix.shape[0]
        tensors = [v2.output(name, self.predictor, prediction, rows) for name in outputs]
        self._remember(request_id, prediction)
        feedback_ids = self.tokens.issue(prediction.class_index, prediction.scores)
        body = orjson.dumps(
            {
                "model_name": self.name,
                "model_version": self.version,
                "id": request_id,
                "parameters": {"feedback_ids": feedback_ids},
                "outputs": tensors,
            },
            option=DUMP_OPTIONS,
        )
        return 200, body, _id_headers(request_id, feedback_ids)

    async def _predict(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        self._require_model()
        payload = await self._json(scope, receive)
        matrix, _single = self.schema.decode_records(payload)
        prediction = await self.predictor.predict(matrix)
        request_id = _header_id(scope) or uuid.uuid4().hex
        ids = feedback.record_ids(request_id, matrix.shape[0])
        labels = self.predictor.labels(prediction)
        self._remember(request_id, prediction)
        feedback_ids = self.tokens.issue(prediction.class_index, prediction.scores)
        scores = prediction.scores.tolist()
        body = orjson.dumps(
            {
                "request_id": request_id,
                "model": self.name,
                "version": self.version,
                "predictions": [
                    {"request_id": i, "feedback_id": f, "score": s, "label": label}
                    for i, f, s, label in zip(ids, feedback_ids, scores, labels, strict=True)
                ],
            }
        )
        return 200, body, _id_headers(request_id, feedback_ids)

    def _remember(self, request_id: str, prediction: Any) -> None:
        self.metrics.observe_scores(prediction.scores)
        kept = prediction.scores if prediction.class_index is None else prediction.class_index
        self.store.remember(request_id, kept)

    async def _feedback(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        self._require_model()
        payload = await self._json(scope, receive)
        items = payload if isinstance(payload, list) else [payload]
        if not items or len(items) > self.settings.max_rows:
            raise InputError("bad_request", f"send 1 to {self.settings.max_rows} feedback items")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError("bad_request", f"feedback item {i} is not an object")
            if "feedback_id" in item:
                if not isinstance(item["feedback_id"], str):
                    raise InputError("bad_request", f"feedback item {i}: 'feedback_id' not text")
            elif not isinstance(item.get("request_id"), str):
                raise InputError(
                    "bad_request", f"feedback item {i} needs a string 'feedback_id' or 'request_id'"
                )
            if "label" not in item or isinstance(item["label"], dict | list):
                raise InputError("bad_request", f"feedback item {i} needs a scalar 'label'")
        own_regression = self.predictor.task == "regression"
        classes = self.predictor.classes
        tolerance = self.settings.regression_tolerance
        ttl = self.settings.feedback_ttl_seconds
        # Version that made the prediction → [labels judged, correct ones].
        judged: dict[str, list[int]] = {}
        unknown = 0
        for item in items:
            if "feedback_id" in item:
                issued = self.tokens.check(item["feedback_id"], ttl)
                if issued is None:
                    unknown += 1
                    continue
                version, predicted, regression = issued.version, issued.predicted, issued.regression
            else:
                try:
                    kept = self.store.take(item["request_id"])
                except KeyError:
                    unknown += 1
                    continue
                version, regression = self.version, own_regression
                predicted = float(kept) if regression else classes[int(kept)]
            counts = judged.setdefault(version, [0, 0])
            counts[0] += 1
            counts[1] += feedback.matches(
                item["label"], predicted, regression=regression, tolerance=tolerance
            )
        accepted = 0
        for version, (known, correct) in judged.items():
            if self.metrics.count_feedback(version, known, correct):
                accepted += known
            else:
                unknown += known
        if unknown:
            self.metrics.feedback_unknown.inc(unknown)
        return 200, orjson.dumps({"accepted": accepted, "unknown": unknown})

    # -- helpers --------------------------------------------------------------------------

    def _require_model(self) -> None:
        if self.model is None:
            raise Reply(503, f"model not ready: {self.failure}", "not_ready")

    async def _json(self, scope: Scope, receive: Receive) -> Any:
        limit = self.settings.max_body_bytes
        content_type = b""
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    raise InputError("bad_request", "invalid Content-Length")
                if int(value) > limit:
                    raise InputError("body_too_large", f"body over {limit} bytes", 413)
            elif key == b"content-type":
                content_type = value
        media = content_type.split(b";", 1)[0].strip().decode("latin-1").lower()
        if media not in ACCEPTED_CONTENT_TYPES and not media.endswith("+json"):
            raise InputError("content_type", f"content type {media!r} is not JSON", 415)
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InputError("disconnected", "client went away")
            body += message.get("body", b"")
            if len(body) > limit:
                raise InputError("body_too_large", f"body over {limit} bytes", 413)
            more = message.get("more_body", False)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise InputError("invalid_json", f"invalid JSON: {error}") from error


def _allow(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise Reply(405, f"method {method} not allowed here; use {allowed}", "method")


def _endpoint(parts: list[str]) -> str | None:
    """The `endpoint` label of a path, None for paths that are not counted."""
    if parts == ["predict"] or parts == ["feedback"]:
        return parts[0]
    if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
        if parts[-1] == "infer":
            return "infer"
        if len(parts) == 3 or (len(parts) == 5 and parts[3] == "versions"):
            return "metadata"
    return None


def _valid_id(value: str) -> bool:
    # Ids travel back in a response header, so they must be safe there.
    return 0 < len(value) <= 256 and value.isascii() and value.isprintable()


def _id_headers(request_id: str, feedback_ids: list[str]) -> Headers:
    headers = [(b"x-request-id", request_id.encode())]
    if len(feedback_ids) == 1:
        headers.append((b"x-feedback-id", feedback_ids[0].encode()))
    return headers


def _header_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            text: str = value.decode("latin-1")
            return text if _valid_id(text) else None
    return None


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, extra: Headers | None = None
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Server:
    """Factory for `uvicorn --factory`: every worker reads the settings from the environment."""
    return Server(Settings())
