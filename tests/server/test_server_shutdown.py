"""Graceful shutdown: runs in flight finish and answer; then the sandbox is closed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from server_harness import AsgiHarness, Auth

from runtime.server import BackgroundServer, ServerConfig

SLEEPER = "import time\nprint('working')\ntime.sleep(1.0)\n'finished'"


def test_uvicorn_shutdown_lets_the_run_finish(make_config: Callable[..., ServerConfig], auth: Auth) -> None:
    server = BackgroundServer(make_config()).start()
    answers: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers.append(client.post("/v1/executions", json={"code": SLEEPER}, headers=auth("alice")))

    caller = threading.Thread(target=call)
    caller.start()
    with httpx.Client(base_url=server.url) as probe:
        while probe.get("/healthz").json()["in_flight"] == 0:
            time.sleep(0.01)
    server.close()  # what SIGTERM does
    caller.join(10)

    (answer,) = answers
    assert (answer.status_code, answer.json()["value"]) == (200, "finished")
    assert server.app.state.executions.sandbox is None  # closed at the end of the lifespan
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=server.url) as late:
        late.get("/healthz")


def test_lifespan_shutdown_waits_for_admitted_runs(make_app: Callable[..., FastAPI], auth: Auth) -> None:
    harness = AsgiHarness(make_app())
    pending = asyncio.run_coroutine_threadsafe(
        harness.client.post("/v1/executions", json={"code": SLEEPER}, headers=auth("bob")), harness.loop
    )
    while harness.request("GET", "/healthz").json()["in_flight"] == 0:
        time.sleep(0.01)
    started = time.monotonic()
    harness.close()

    assert time.monotonic() - started > 0.5  # the shutdown waited
    assert pending.result(0).json()["value"] == "finished"
