"""The Kubernetes API client the handlers share (loaded once, in or out of the cluster).

Every call through it is bounded: the client gives each request the operator's timeout
(`MODELRELEASE_API_CONNECT_TIMEOUT`, `MODELRELEASE_API_TIMEOUT`) unless the call names
its own `_request_timeout`, and a read that timed out is not sent again. Without that a
black-holed API server (packets dropped, a connection accepted and never answered) would
hang the thread that called it for ever: a release tick, a resync, the lease's renewal.
Kopf's own watches use aiohttp and their own timeouts (main.py), not this client.
"""

from __future__ import annotations

import functools
from typing import Any

import kubernetes
import urllib3

from .config import from_environment

#: (connect, read) seconds, or one number for the whole request (the client's forms).
Timeout = float | tuple[float, float]

#: urllib3's default retries a GET whose read timed out three more times, which would
#: make a silent API server cost four timeouts per call. Here a connection that could
#: not be made is tried once more and a request whose answer did not come is not sent
#: again (the read's error is raised as it is); the operator's loops retry on their
#: next pass.
RETRIES = urllib3.Retry(total=3, connect=1, read=False)


class TimeoutApiClient(kubernetes.client.ApiClient):
    """An ApiClient whose requests get `timeout` unless the call passes its own
    `_request_timeout` (every generated API method goes through `call_api`)."""

    def __init__(self, configuration: Any = None, *, timeout: Timeout) -> None:
        super().__init__(configuration)
        self.timeout = timeout

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Timeout | None = None,
    ) -> Any:
        return super().call_api(
            method,
            url,
            header_params,
            body,
            post_params,
            _request_timeout=self.timeout if _request_timeout is None else _request_timeout,
        )


def new_client(
    configuration: Any, *, connect: float, read: float, threads: int = 0
) -> TimeoutApiClient:
    """A client for `configuration` (a kubernetes.client.Configuration, changed in place:
    its retries, its pool) whose calls time out after `connect` and `read` seconds.

    `threads`: how many threads call it at once. The pool keeps a connection for each:
    the client's default (5 per CPU) is below the release workers on a small node, and
    every connection it discards is a new TLS handshake, which took more CPU than the
    requests themselves with 32 workers on 2 cores."""
    configuration.retries = RETRIES
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, threads)
    return TimeoutApiClient(configuration, timeout=(connect, read))


#: Threads besides the release workers that call the API: Kopf's executor (its event
#: handlers), the resync and tick loops, the Lease.
OTHER_CALLING_THREADS = 16


@functools.cache
def api_client() -> TimeoutApiClient:
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    config = from_environment()
    return new_client(
        kubernetes.client.Configuration.get_default_copy(),
        connect=config.api_connect_timeout,
        read=config.api_timeout,
        threads=config.release_workers + OTHER_CALLING_THREADS,
    )


def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api_client())


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def coordination() -> kubernetes.client.CoordinationV1Api:
    return kubernetes.client.CoordinationV1Api(api_client())


def plain(obj: Any) -> dict[str, Any]:
    """A client model as the API server's camelCase JSON."""
    return api_client().sanitize_for_serialization(obj)  # type: ignore[no-any-return,no-untyped-call]


def get_or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The object, or None where it does not exist."""
    try:
        return call(*args, **kwargs)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise


def create_unless_exists(call: Any, *args: Any, **kwargs: Any) -> None:
    """Create an object whose name the caller derived from status: a 409 means an earlier
    run (one killed before it could record the creation) made it, and it is adopted."""
    try:
        call(*args, **kwargs)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise


def server_side_apply(resource_path: str, body: bytes, *, field_manager: str) -> None:
    """PATCH `resource_path` (e.g. /apis/apps/v1/namespaces/NS/deployments/NAME) with a
    server-side apply of `body`, sent as the bytes given, forcing conflicts.

    The generated API methods serialize the body with json.dumps, which escapes
    characters beyond the BMP as UTF-16 surrogate pairs; the API server's YAML decoder
    refuses those (400). The caller serializes as UTF-8 instead (see
    handlers/release_writer.py), and this sends it as it is."""
    client = api_client()
    method, url, headers, _, _ = client.param_serialize(
        method="PATCH",
        resource_path=resource_path,
        query_params=[("fieldManager", field_manager), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        auth_settings=["BearerToken"],
    )
    response = client.call_api(method, url, header_params=headers, body=body)
    response.read()
    if response.status >= 400:
        raise kubernetes.client.ApiException(http_resp=response)
