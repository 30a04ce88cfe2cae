"""Shared fixtures for the daemon's tests.

The costly objects (apps, each with a sandbox and its warm pool; a real
uvicorn server on a loopback port, ``BackgroundServer``) are made once per session. Tests that need a server with a
configuration of its own (tight rate limits, a small concurrency ceiling)
build one per module with ``make_app``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from server_harness import CEILINGS, HTTP_TOOLS, AsgiHarness, Backend, Send

from runtime.server import BackgroundServer, ServerConfig, create_app


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    """Each caller's bearer token, by name."""
    return {name: secrets.token_urlsafe(24) for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture(scope="session")
def auth(tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """``auth("alice")``: the headers that authenticate alice."""
    return lambda name: {"Authorization": f"Bearer {tokens[name]}"}


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str]) -> Path:
    path = tmp_path_factory.mktemp("auth") / "tokens.txt"
    lines = ["# the test callers"] + [f"{token} {name}" for name, token in tokens.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def backend() -> Backend:
    """The fake HTTP API behind the HTTP tools (one per session: tests read deltas of ``seen``)."""
    return Backend()


@pytest.fixture(scope="session")
def make_config(token_file: Path) -> Callable[..., ServerConfig]:
    """``make_config(**changes)``: the test servers' configuration, changed."""

    def make(**changes: Any) -> ServerConfig:
        base = ServerConfig(
            port=0,  # a free port, for the servers started on a thread
            token_file=token_file,
            tools=("server_tools:TOOLS",),
            http_tools=HTTP_TOOLS,
            ceilings=CEILINGS,
            pool_size=2,
            execution_rate=None,
            tool_call_rate=None,
            shutdown_timeout=10.0,
        )
        return base.replace(**changes)

    return make


@pytest.fixture(scope="session")
def make_app(make_config: Callable[..., ServerConfig], backend: Backend) -> Callable[..., FastAPI]:
    """``make_app(**config_changes)``: an app over the fake backend."""
    return lambda **changes: create_app(make_config(**changes), transport=backend.transport)


@pytest.fixture(scope="session")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit file of the shared ASGI app."""
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="session")
def asgi(make_app: Callable[..., FastAPI], audit_path: Path) -> Iterator[AsgiHarness]:
    """The shared app, driven in-process (ASGI transport, lifespan run by the harness)."""
    harness = AsgiHarness(make_app(audit_log=audit_path))
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def live_config(make_config: Callable[..., ServerConfig], tmp_path_factory: pytest.TempPathFactory) -> ServerConfig:
    return make_config(audit_log=tmp_path_factory.mktemp("live-audit") / "audit.jsonl", pool_size=4)


@pytest.fixture(scope="session")
def live(live_config: ServerConfig, backend: Backend) -> Iterator[BackgroundServer]:
    """The shared app served by uvicorn on a loopback port."""
    with BackgroundServer(live_config, transport=backend.transport) as server:
        yield server


@pytest.fixture(scope="session")
def live_http(live: BackgroundServer) -> Iterator[httpx.Client]:
    """A plain HTTP client of the live server (no auth header of its own)."""
    with httpx.Client(base_url=live.url, timeout=30.0) as client:
        yield client


@pytest.fixture(params=["asgi", "live"])
def send(request: pytest.FixtureRequest) -> Send:
    """``send(method, url, **kwargs)`` through the ASGI transport, or over loopback to the real server."""
    if request.param == "asgi":
        harness: AsgiHarness = request.getfixturevalue("asgi")
        return harness.request
    client: httpx.Client = request.getfixturevalue("live_http")
    return client.request
