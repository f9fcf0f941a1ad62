"""Server configuration, read from `MODELRELEASE_SERVER_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MODELRELEASE_SERVER_"


class Settings(BaseSettings):
    """Everything the server can be told; the CLI flags override the environment."""

    # Field docstrings double as descriptions, so `--help` and docs share one text.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", use_attribute_docstrings=True
    )

    artifact: str = "/mnt/models"
    """Artifact folder: a local path or an fsspec URI (file://, s3://, gs://, ...)."""

    expected_digest: str | None = None
    """Digest model.ubj must have, `sha256:<hex>` or bare hex; unset trusts model.sha256."""

    model_name: str | None = None
    """Model name served and used as the `model` label; default: the model card's name."""

    model_version: str | None = None
    """Model version served and used as the `version` label; default: the card's version."""

    host: str = "0.0.0.0"
    """Address to listen on."""

    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port to listen on."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes; above 1, metrics are summed through prometheus multiprocess files."""

    nthread: int = Field(default=1, ge=1)
    """XGBoost threads per prediction; 1 is fastest for small requests."""

    batching: bool = True
    """Adaptive batching: predictions of concurrent requests share one booster call."""

    batch_window_ms: float = Field(default=0.0, ge=0.0, le=50.0)
    """How long a prediction waits for others to batch with; 0 takes only the requests that
    arrived in the same event-loop turn, adding no wait."""

    max_batch_rows: int = Field(default=512, ge=1)
    """A batch reaching this many records runs at once."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest request body accepted, in bytes; a larger one is answered 413."""

    max_rows: int = Field(default=10_000, ge=1)
    """Most records (rows) in one request; more is answered 413."""

    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Binary models: a positive-class probability at or above this predicts class index 1."""

    feedback_capacity: int = Field(default=100_000, ge=1)
    """How many predicted records are remembered for feedback; the oldest are forgotten first."""

    feedback_ttl_seconds: float = Field(default=3600.0, gt=0)
    """How long a prediction waits for its label, in seconds: remembered in the process for a
    request id, accepted back as a feedback id."""

    feedback_key: SecretStr = SecretStr("")
    """Key of the HMAC that signs feedback ids; every pod of a release needs the same one
    (the operator sets it). Empty: the MAC only detects garbled ids, anyone can make one."""

    regression_tolerance: float = Field(default=0.1, ge=0.0)
    """Regression feedback counts as correct when |label - prediction| is at most this."""

    metrics_dir: str | None = None
    """Prometheus multiprocess folder (writable); with workers > 1 and unset: one under $TMPDIR."""

    graceful_timeout_seconds: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long in-flight requests may still run before the process exits."""

    log_level: str = "info"
    """Log level: debug, info, warning or error."""

    access_log: bool = False
    """Log one line per request (costs throughput)."""

    @field_validator("expected_digest")
    @classmethod
    def _normalise_digest(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        digest = value.strip().lower().removeprefix("sha256:")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("expected_digest must be 'sha256:<64 hex>' or 64 hex characters")
        return digest
