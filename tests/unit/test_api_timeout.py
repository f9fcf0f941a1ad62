"""Every call through the operator's API client is bounded: against a real socket that
accepts the connection and never answers, a call fails after the client's timeout
instead of hanging (nor is it sent again: urllib3 would retry a GET three times)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import kubernetes
import pytest
import urllib3
from modelrelease_operator import kube


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """http://127.0.0.1:PORT: accepts every connection, reads nothing, answers nothing."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def client(host: str, read: float) -> kube.TimeoutApiClient:
    configuration = kubernetes.client.Configuration()
    configuration.host = host
    return kube.new_client(configuration, connect=5.0, read=read)


def test_a_call_times_out_against_a_server_that_never_answers(
    silent_server: tuple[str, list[socket.socket]],
) -> None:
    host, accepted = silent_server
    api = kubernetes.client.CoreV1Api(client(host, read=0.5))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.list_namespaced_pod("default")  # a GET: retried by urllib3's default
    took = time.monotonic() - started
    assert 0.5 <= took < 2.0, took
    assert len(accepted) == 1  # sent once


def test_a_write_times_out_too(silent_server: tuple[str, list[socket.socket]]) -> None:
    host, _ = silent_server
    api = kubernetes.client.CoordinationV1Api(client(host, read=0.5))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.create_namespaced_lease("default", {"metadata": {"name": "x"}, "spec": {}})
    assert time.monotonic() - started < 2.0


def test_a_timeout_the_call_names_wins(silent_server: tuple[str, list[socket.socket]]) -> None:
    host, _ = silent_server
    api = kubernetes.client.CoreV1Api(client(host, read=30.0))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.list_namespaced_pod("default", _request_timeout=(5.0, 0.3))
    assert time.monotonic() - started < 2.0


def test_the_operators_shared_client_is_bounded(
    silent_server: tuple[str, list[socket.socket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """kube.core() and the rest, as the handlers call them: the kubeconfig names the
    silent server, MODELRELEASE_API_TIMEOUT the read timeout."""
    host, accepted = silent_server

    def not_in_a_cluster() -> None:
        raise kubernetes.config.ConfigException("not in a cluster")

    def kubeconfig() -> None:
        configuration = kubernetes.client.Configuration()
        configuration.host = host
        kubernetes.client.Configuration.set_default(configuration)

    monkeypatch.setattr(kubernetes.config, "load_incluster_config", not_in_a_cluster)
    monkeypatch.setattr(kubernetes.config, "load_kube_config", kubeconfig)
    monkeypatch.setenv("MODELRELEASE_API_TIMEOUT", "0.5")
    kube.api_client.cache_clear()
    try:
        assert kube.api_client().timeout == (10.0, 0.5)
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            kube.custom().list_cluster_custom_object(
                "modelrelease.dev", "v1alpha1", "modelreleases"
            )
        assert time.monotonic() - started < 2.0
        assert len(accepted) == 1
    finally:
        kube.api_client.cache_clear()
        kubernetes.client.Configuration.set_default(None)


def test_the_pool_keeps_a_connection_for_each_calling_thread() -> None:
    """With more threads than urllib3's default pool (5 per CPU), connections were
    discarded after each call and made again: a TLS handshake per request, which cost
    more CPU than the requests with 32 release workers on 2 cores."""
    threads = (os.cpu_count() or 1) * 5 + 4
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:1"
    shared = kube.new_client(configuration, connect=5.0, read=5.0, threads=threads)
    assert shared.rest_client.pool_manager.connection_pool_kw["maxsize"] == threads
    small = kube.new_client(kubernetes.client.Configuration(), connect=5.0, read=5.0, threads=2)
    assert small.rest_client.pool_manager.connection_pool_kw["maxsize"] >= 2  # never lowered
