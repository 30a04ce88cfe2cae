"""Serving the app with uvicorn: in the foreground (``serve``, ``otc serve``) or on a thread (``BackgroundServer``)."""

from __future__ import annotations

import errno
import gc
import math
import os
import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn

from host_functions import ToolSet

from ._app import create_app
from ._auth import TokenVerifier
from ._config import ServerConfig
from ._errors import ConfigError
from ._workers import announce, serve_workers

__all__ = ["BackgroundServer", "serve", "uvicorn_config"]


def uvicorn_config(
    config: ServerConfig, app: object, *, log_level: str = "info", access_log: bool = True
) -> uvicorn.Config:
    """The uvicorn settings for ``config``: its address, graceful shutdown
    bounded by ``shutdown_timeout``, lifespan required (a sandbox that cannot
    start stops the server), no ``Server`` header, no websockets."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=config.host,
        port=config.port,
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=max(1, math.ceil(config.shutdown_timeout)),
        server_header=False,
        ws="none",  # the API has no websockets
        proxy_headers=False,
    )


def serve(
    config: ServerConfig,
    *,
    verifier: TokenVerifier | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    tools: ToolSet | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> bool:
    """Serve ``create_app(config, ...)`` on ``config.host:config.port`` until
    SIGINT or SIGTERM; in-flight executions finish first. With
    ``config.workers`` > 1, that many processes serve, each its own app
    (``_workers``). Returns False when the server could not start (the reason
    is logged). Raises ``ConfigError`` for an unusable configuration, an
    address that cannot be bound included (at once: before the sandbox is
    built, which can take seconds)."""
    settings = uvicorn_config(config, None, log_level=log_level, access_log=access_log)
    try:
        sock = _listen(config, backlog=settings.backlog)
    except OSError as exc:
        # create_server's own message repeats the address: the errno's text says it all.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = " (choose another port)" if exc.errno == errno.EADDRINUSE else ""
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {reason}{hint}") from exc
    try:
        # Made here also with workers: a configuration problem is raised before any starts.
        app = create_app(config, verifier=verifier, transport=transport, tools=tools)
        if config.workers > 1:
            return serve_workers(
                config,
                sock,
                url=_url(sock),
                tool_names=app.state.executions.tool_names,
                verifier=verifier,
                transport=transport,
                tools=tools,
                log_level=log_level,
                access_log=access_log,
            )
        settings.app = app
        server = _AnnouncingServer(settings)
        # This process is the daemon's own: keep the cyclic GC from rescanning everything
        # imported and built so far (frameworks, schemas, tools) on every full collection.
        gc.freeze()
        server.run(sockets=[sock])
    finally:
        sock.close()
    return bool(server.started)


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, saying where it serves once it does (uvicorn does not when handed a socket)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            hint = f"one process: --workers {cores} uses all {cores} cores; " if cores > 1 else ""
            announce("otc serve: serving on %s (%spress Ctrl-C to stop)", _url(sockets[0]), hint)


def _url(sock: socket.socket) -> str:
    """The base URL of a server listening on ``sock``."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _listen(config: ServerConfig, *, backlog: int) -> socket.socket:
    """A socket bound to ``config.host:config.port`` and listening; raises
    ``OSError`` when the address is taken or not this machine's."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    return socket.create_server((config.host, config.port), family=family, backlog=backlog)


class BackgroundServer:
    """The daemon on a background thread of this process: for tests, notebooks
    and applications that embed it. ``port=0`` in the config picks a free port.

    Usage::

        with BackgroundServer(ServerConfig(port=0), verifier=verifier) as server:
            Client(server.url, token=token).run("1 + 1")

    Raises ``ConfigError`` for ``config.workers`` > 1 (see ``serve``).
    ``start`` raises ``RuntimeError`` when the server does not come up (the
    reason is logged) and ``OSError`` when the address cannot be bound;
    ``close`` shuts it down gracefully, as SIGTERM does ``serve``.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        verifier: TokenVerifier | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tools: ToolSet | None = None,
        log_level: str = "warning",
    ) -> None:
        if config.workers > 1:
            raise ConfigError(
                f"ServerConfig.workers={config.workers}: a BackgroundServer serves from a thread of this "
                "process; start worker processes with serve() or `otc serve --workers`"
            )
        self.config = config
        self.app = create_app(config, verifier=verifier, transport=transport, tools=tools)
        self._server = uvicorn.Server(uvicorn_config(config, self.app, log_level=log_level, access_log=False))
        self._thread: threading.Thread | None = None
        self.url = ""
        """``http://host:port`` once started."""

    def start(self, timeout: float = 60.0) -> BackgroundServer:
        """Bind, start serving, and wait until the app has started (its sandbox is ready)."""
        sock = _listen(self.config, backlog=self._server.config.backlog)
        self.url = _url(sock)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="otc-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the server did not start (see the log)")
            time.sleep(0.01)
        return self

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting, let in-flight executions finish, close the sandbox (idempotent)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
