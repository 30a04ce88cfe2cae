"""``create_app``: the executor daemon as an ASGI application (FastAPI).

FastAPI because its OpenAPI schema comes from the pydantic models the
project already uses (``_models``), with the server's ceilings and tool
names written into it, and schemathesis tests the running app against that
schema; uvicorn serves it (``runtime.server.serve``, ``otc serve``). Plain
``POST /v1/executions`` requests skip FastAPI's per-request machinery
(``FastExecutions``), with the same answers.

One ``Sandbox`` per app, made at startup with every configured tool and the
ceilings as its limits: its warm pool is shared by all requests, and each
run is narrowed to the tools the request names (``only_tools``) and given the
caller's ``Identity`` as its context (so HTTP tools call with the caller's
token, which never enters the sandbox). Shutdown waits for admitted runs
(``ServerConfig.shutdown_timeout``), then closes the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from host_functions import ToolSet
from runtime import Sandbox
from runtime.llm import ToolIndex, ToolSpec

from ._audit import AuditLog
from ._auth import StaticTokenVerifier, TokenVerifier
from ._authenticate import Authenticate, Caller
from ._config import ServerConfig
from ._errors import ConfigError
from ._executions import Executions
from ._fast_path import EXECUTIONS_PATH, FastExecutions, FastPathStats
from ._http_tools import HttpToolClient
from ._metrics import CONTENT_TYPE, Metrics
from ._models import ErrorBody, ExecutionRequest, ExecutionResponse, Health, RateLimitedBody, ToolInfo, ToolList
from ._rate_limit import RateLimiter
from ._responses import JSON, BodyLimit, CatchAll, http_error, validation_error
from ._shared import ServerShare
from ._streaming import MEDIA_TYPE, stream_response
from ._tools import load_tools, rate_limited

__all__ = ["API_VERSION", "build_app", "create_app"]

log = logging.getLogger("otc.server")

API_VERSION = "1"
"""The JSON API's version, the ``/v1`` in its paths."""

_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)
"""FastAPI's native OpenTelemetry (newer releases) off: the daemon reports
through ``/metrics`` and its audit log, and FastAPI's check for a configured
OpenTelemetry provider read the environment on every request, ~5 % of the
event loop's time under load."""

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not UTF-8 JSON text."},
    401: {"model": ErrorBody, "description": "Missing, malformed or unknown bearer token."},
    413: {"model": ErrorBody, "description": "The request body is over the server's limit."},
    429: {
        "model": RateLimitedBody,
        "description": "The server is full (busy) or the caller is over its execution rate.",
        "headers": {"Retry-After": {"description": "Whole seconds to wait.", "schema": {"type": "integer"}}},
    },
}


_SSE_EVENT = {
    "type": "object",
    "description": "One server-sent event: its name, and its data (one JSON value).",
    "properties": {
        "event": {"type": "string", "enum": ["stdout", "stderr", "result", "error"]},
        "data": {"type": "string", "description": "JSON: the text printed, the ExecutionResponse, or {detail}."},
    },
    "required": ["event", "data"],
}


def _only_query(*names: str) -> Any:
    """A dependency refusing query parameters other than ``names`` (422): hostile requests get no slack."""
    allowed = frozenset(names)

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            problems = [
                {"loc": ["query", name[:100]], "msg": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown[:10]
            ]
            raise HTTPException(422, detail=problems)

    return Depends(check)


def _tool_info(spec: ToolSpec) -> ToolInfo:
    return ToolInfo(name=spec.name, description=spec.description, parameters=spec.parameters, returns=spec.returns)


def _document_ceilings(schema: dict[str, Any], config: ServerConfig, tool_names: list[str]) -> None:
    """Write the server's ceilings and tool names into the OpenAPI schema."""
    components = schema.get("components", {}).get("schemas", {})
    limits = components.get("LimitsOverride", {}).get("properties", {})
    for name, prop in limits.items():
        ceiling = getattr(config.ceilings, name, None)
        branches = prop.get("anyOf", [prop])
        if ceiling is not None and branches and branches[0].get("type") in ("integer", "number"):
            branches[0]["maximum"] = ceiling
    request = components.get("ExecutionRequest", {}).get("properties", {})
    if "tools" in request:
        if tool_names:
            request["tools"]["items"] = {"type": "string", "enum": tool_names}
        else:
            request["tools"]["maxItems"] = 0
    if "code" in request:
        request["code"]["maxLength"] = config.ceilings.max_code_bytes


def create_app(
    config: ServerConfig,
    *,
    verifier: TokenVerifier | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    tools: ToolSet | None = None,
) -> FastAPI:
    """The daemon's ASGI app for ``config``.

    ``verifier`` resolves bearer tokens (default: a ``StaticTokenVerifier``
    reading ``config.token_file``); ``transport`` replaces the network for the
    HTTP tool backends (``httpx.MockTransport`` in tests); ``tools`` are served
    next to the configured ones (for applications that embed the daemon).
    Tools are loaded here; the sandbox is made when the app starts (its
    lifespan). Raises ``ConfigError`` when there is no verifier and no token
    file, or a tool source cannot be loaded, or two tools share a name.

    The app is one process's: ``config.workers`` is for ``serve``, which
    starts that many processes, each with an app of its own.
    """
    return build_app(config, verifier=verifier, transport=transport, tools=tools)


_POOL_PUBLISHED_EVERY = 0.5
"""Seconds between a worker's writes of its ready interpreters for the others' ``/metrics``."""


def build_app(
    config: ServerConfig,
    *,
    verifier: TokenVerifier | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    tools: ToolSet | None = None,
    share: ServerShare | None = None,
) -> FastAPI:
    """``create_app``, for one worker of a daemon whose workers share ``share``
    (default: a daemon of one process). Raises as ``create_app`` does."""
    if verifier is None:
        if config.token_file is None:
            raise ConfigError("no token file and no verifier: every request must be authenticated")
        verifier = StaticTokenVerifier.from_file(config.token_file)
    http_client = HttpToolClient(transport)
    loaded = load_tools(config.tools, config.http_tools, http_client, tools)
    tool_names = loaded.names
    if share is None:
        share = ServerShare.create(config, tool_names)

    def pool_ready() -> int:
        """The server's ready interpreters: this worker's now, the others' as they last wrote them."""
        sandbox = executions.sandbox
        share.pool_ready[share.index] = sandbox.ready_interpreters if sandbox is not None else 0
        return int(sum(share.pool_ready))

    metrics = Metrics(
        tool_names=tool_names,
        max_concurrent=config.max_concurrent_executions,
        pool_size=config.pool_size * share.workers,
        in_flight=lambda: executions.slots.total,
        pool_ready=pool_ready,
        counts=share.counts,
        row=share.index,
        rows=share.workers,
        worker_restarts=lambda: int(share.restarts[0]),
    )
    if config.tool_call_rate is not None:
        limiter = RateLimiter(config.tool_call_rate, table=share.tool_buckets)
        loaded = ToolSet(rate_limited(tool, limiter, metrics.tool_call_rate_limited) for tool in loaded)
    specs = [ToolSpec.from_tool(tool) for tool in loaded]
    index = ToolIndex(specs)
    executions = Executions(
        ceilings=config.ceilings,
        tool_names=frozenset(tool_names),
        slots=share.slots(config.max_concurrent_executions),
        rate_limiter=(
            RateLimiter(config.execution_rate, table=share.execution_buckets)
            if config.execution_rate is not None
            else None
        ),
        metrics=metrics,
    )

    async def publish_pool() -> None:
        while True:
            pool_ready()
            await asyncio.sleep(_POOL_PUBLISHED_EVERY)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Closed in reverse: the sandbox (its runs finished), then the audit log, then the HTTP client.
        async with contextlib.AsyncExitStack() as resources:
            http_client.open()
            resources.push_async_callback(http_client.aclose)
            audit = (
                AuditLog(queue=share.audit)  # a worker's: the supervisor writes the file
                if share.audit is not None
                else AuditLog(config.audit_log, max_bytes=config.audit_max_bytes, backups=config.audit_backups)
                if config.audit_log is not None
                else None
            )
            if audit is not None:
                resources.callback(audit.close)
                executions.audit = audit
            sandbox = await asyncio.to_thread(
                Sandbox,
                tools=loaded,
                limits=config.ceilings,
                pool_size=config.pool_size,
                workers=min(config.worker_threads or 2 * (os.cpu_count() or 1), config.max_concurrent_executions),
            )
            resources.push_async_callback(asyncio.to_thread, sandbox.close)
            await asyncio.to_thread(sandbox.wait_ready, 60.0)
            executions.sandbox = sandbox
            if share.workers > 1:
                publisher = asyncio.create_task(publish_pool())
                resources.callback(publisher.cancel)
            share.started[share.index] = 1
            try:
                yield
            finally:
                if not await executions.drain(config.shutdown_timeout):
                    log.warning("shutting down with %d executions still running", executions.in_flight)
                executions.sandbox = None
                executions.audit = None

    app = FastAPI(
        title="otc-runtime executor",
        version=API_VERSION,
        description="Run untrusted Python in a WebAssembly sandbox, with tools as host functions.",
        lifespan=lifespan,
        default_response_class=JSON,
        **_NO_TELEMETRY,
    )
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    fast_path = FastPathStats()
    # Innermost first: the fast path sees requests authenticated and size-limited.
    app.add_middleware(FastExecutions, executions=executions, stats=fast_path)
    app.add_middleware(BodyLimit, max_bytes=config.max_request_bytes)
    app.add_middleware(Authenticate, verifier=verifier, metrics=metrics)
    app.add_middleware(CatchAll)

    @app.post(
        EXECUTIONS_PATH,  # plain requests are answered by FastExecutions, the same way
        response_model=ExecutionResponse,
        dependencies=[_only_query()],
        responses=_REFUSALS,
        summary="Run a script and return its result",
    )
    async def execute(request: ExecutionRequest, identity: Caller) -> Response:
        admitted = executions.admit(identity, request, stream=False)
        _, body = await executions.run(admitted)
        return Response(body, media_type="application/json", headers={"X-Execution-Id": admitted.execution})

    @app.post(
        "/v1/executions/stream",
        response_class=Response,
        dependencies=[_only_query()],
        responses={
            200: {
                "description": "Server-sent events: stdout/stderr as printed, then the result.",
                "content": {MEDIA_TYPE: {"schema": _SSE_EVENT}},
            },
            **_REFUSALS,
        },
        summary="Run a script, streaming its output (server-sent events)",
    )
    async def execute_stream(request: ExecutionRequest, identity: Caller) -> Response:
        return stream_response(executions, executions.admit(identity, request, stream=True))

    @app.get(
        "/v1/tools",
        response_model=ToolList,
        responses=_REFUSALS,
        dependencies=[_only_query("q", "k")],
        summary="The tools a run may be granted",
    )
    async def list_tools(
        identity: Caller,
        q: Annotated[
            str | None, Query(min_length=1, max_length=500, pattern=r"\S", description="Search words (BM25).")
        ] = None,
        k: Annotated[int, Query(ge=1, le=100, description="How many results a search returns.")] = 20,
    ) -> ToolList:
        if q is None:
            return ToolList(tools=[_tool_info(spec) for spec in specs])
        try:
            hits = index.search(q, k=k)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "q"], "msg": str(exc), "type": "value_error"}]) from None
        found = [index.spec(hit.name) for hit in hits]
        return ToolList(tools=[_tool_info(spec) for spec in found if spec is not None])

    @app.get("/healthz", response_model=Health, dependencies=[_only_query()], summary="Liveness")
    async def health() -> Health:
        return Health(status="ok", in_flight=executions.slots.total, workers=sum(share.started))

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        dependencies=[_only_query()],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
    )
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _document_ceilings(schema, config, tool_names)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.executions = executions
    app.state.metrics = metrics
    app.state.fast_path = fast_path
    return app
