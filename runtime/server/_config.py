"""``ServerConfig``: everything ``otc serve`` needs, validated before it listens.

A TOML file holds the same fields (``ServerConfig.from_toml``)::

    host = "127.0.0.1"
    port = 8000
    token_file = "tokens.txt"            # paths are relative to this file
    audit_log = "audit.jsonl"
    tools = ["myapp.tools:TOOLSET"]     # module:attribute, a ToolSet (or a Tool, or a factory of one)
    max_concurrent_executions = 32
    pool_size = 8
    worker_threads = 4                   # default: twice the cores
    workers = 2                          # processes; default 1

    [ceilings]                           # runtime.Limits fields: the most a request may ask for
    timeout = 10.0
    memory_mb = 128

    [execution_rate]                     # per caller; omit to disable
    per_second = 10
    burst = 20

    [tool_call_rate]
    per_second = 100
    burst = 200

    [[http_tools]]
    name = "users.get"
    description = "A user's profile."
    method = "GET"
    url = "https://api.example.com/users/{user_id}"
    parameters = { type = "object", properties = { user_id = { type = "string" } }, required = ["user_id"] }
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import InvalidLimits, Limits

from ._errors import ConfigError
from ._http_tools import HttpTool
from ._rate_limit import RateLimit

__all__ = ["ServerConfig"]

_MAX_WORKERS = 64
_TOOL_SOURCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"ServerConfig.{name}={value!r} is invalid: expected an integer >= {minimum}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerConfig:
    """How the executor daemon runs. Fields are checked when the object is built.

    Usage::

        ServerConfig(token_file=Path("tokens.txt"), tools=("myapp.tools:TOOLSET",))
        ServerConfig.from_toml("otc-server.toml")

    Raises ``ConfigError`` for an invalid field.
    """

    host: str = "127.0.0.1"
    """Interface to listen on. The default is loopback only: put a TLS-terminating
    proxy in front before exposing it (tokens travel in headers)."""

    port: int = 8000
    """TCP port (0 picks a free one)."""

    token_file: Path | None = None
    """File of ``token name`` lines read by the default ``StaticTokenVerifier``.
    Required unless ``create_app`` is given a verifier."""

    tools: tuple[str, ...] = ()
    """Python tool sources, ``module:attribute``: a ``ToolSet``, a ``Tool``, or a
    callable with no arguments returning one (imported at startup)."""

    http_tools: tuple[HttpTool, ...] = ()
    """HTTP tool backends, called with each caller's own token."""

    ceilings: Limits = field(default_factory=Limits)
    """The most a request may ask for, field by field; also what a request gets
    for every field it does not set."""

    pool_size: int = 8
    """Warm interpreters kept ready, shared by all requests."""

    worker_threads: int | None = None
    """Executions that run at once; the other admitted ones wait for a thread.
    None: twice the machine's cores. Short executions get the most out of few
    threads: on 2 cores, 4 threads answered 875-1198 trivial exec/s against
    788-816 with 16, and offered 500/s had a p99 of 12-46 ms against 41-46 ms
    (each thread contends for the cores and the GIL). A script
    waiting on a tool (an HTTP backend) holds its thread but no core: raise
    this when scripts mostly wait. At most ``max_concurrent_executions`` are
    ever used."""

    workers: int = 1
    """Worker processes serving the API, each with its own interpreter (and
    GIL), warm pool of ``pool_size`` and ``worker_threads``. One per core
    lets the daemon use every core: on 2 cores, 2 workers answered 1431-1489
    trivial exec/s back to back against 550-700 for one process in the same
    runs, and offered 500/s had a p99 of 5.5-22.3 ms against 76 ms to 3.5 s
    (``benchmarks/test_server_load.py``). The concurrency ceiling, rate limits,
    metrics and audit log are the server's, shared by all workers. Only
    ``serve`` (``otc serve``) starts workers; an app made by ``create_app`` is one."""
    max_concurrent_executions: int = 32
    """Executions admitted at once (running or waiting for a worker); past it,
    requests are answered 429 with ``Retry-After`` at once instead of queueing."""

    execution_rate: RateLimit | None = field(default_factory=lambda: RateLimit(per_second=10, burst=20))
    """Executions each caller may start (token bucket); None disables the limit."""

    tool_call_rate: RateLimit | None = field(default_factory=lambda: RateLimit(per_second=100, burst=200))
    """Tool calls each caller's scripts may make, over all its runs; a refused
    call fails in the script as a ``ToolError`` it can catch. None disables it."""

    audit_log: Path | None = None
    """JSON-lines audit file (rotated); None keeps no audit log."""

    audit_max_bytes: int = 10 << 20
    """Size at which the audit file is rotated."""

    audit_backups: int = 5
    """Rotated audit files kept (``audit.jsonl.1`` ...)."""

    max_request_bytes: int = 2 << 20
    """Largest request body accepted (413 past it); at least ``ceilings.max_code_bytes``."""

    shutdown_timeout: float = 30.0
    """Seconds a shutdown waits for in-flight executions to finish."""

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError(f"ServerConfig.host={self.host!r} is invalid: expected an interface name or address")
        _int("port", self.port, 0)
        if self.port > 65535:
            raise ConfigError(f"ServerConfig.port={self.port!r} is invalid: expected 0-65535")
        if self.token_file is not None and not isinstance(self.token_file, Path):
            raise ConfigError("ServerConfig.token_file must be a pathlib.Path or None")
        if self.audit_log is not None and not isinstance(self.audit_log, Path):
            raise ConfigError("ServerConfig.audit_log must be a pathlib.Path or None")
        if not isinstance(self.tools, tuple) or not all(
            isinstance(s, str) and _TOOL_SOURCE.match(s) for s in self.tools
        ):
            raise ConfigError(f"ServerConfig.tools={self.tools!r} is invalid: expected a tuple of 'module:attribute'")
        if not isinstance(self.http_tools, tuple) or not all(isinstance(t, HttpTool) for t in self.http_tools):
            raise ConfigError("ServerConfig.http_tools must be a tuple of HttpTool")
        if not isinstance(self.ceilings, Limits):
            raise ConfigError("ServerConfig.ceilings must be a runtime.Limits")
        _int("pool_size", self.pool_size, 0)
        if self.worker_threads is not None:
            _int("worker_threads", self.worker_threads, 1)
        _int("workers", self.workers, 1)
        if self.workers > _MAX_WORKERS:
            raise ConfigError(f"ServerConfig.workers={self.workers} is invalid: expected at most {_MAX_WORKERS}")
        _int("max_concurrent_executions", self.max_concurrent_executions, 1)
        for name in ("execution_rate", "tool_call_rate"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, RateLimit):
                raise ConfigError(f"ServerConfig.{name} must be a RateLimit or None")
        _int("audit_max_bytes", self.audit_max_bytes, 1)
        _int("audit_backups", self.audit_backups, 0)
        _int("max_request_bytes", self.max_request_bytes, 1)
        if self.max_request_bytes < self.ceilings.max_code_bytes:
            raise ConfigError(
                f"ServerConfig.max_request_bytes={self.max_request_bytes} is below ceilings.max_code_bytes="
                f"{self.ceilings.max_code_bytes}: code the ceilings allow could not be sent"
            )
        timeout = self.shutdown_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout):
            raise ConfigError(f"ServerConfig.shutdown_timeout={timeout!r} is invalid: expected seconds")
        if timeout < 0:
            raise ConfigError(f"ServerConfig.shutdown_timeout={timeout!r} is invalid: expected seconds >= 0")

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied (validated again). Raises ``ConfigError``."""
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"ServerConfig: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> ServerConfig:
        """Read a TOML file (see the module docstring); relative paths in it are
        relative to the file. Raises ``ConfigError`` naming the file and the key."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the server config {path}: {exc}") from exc
        try:
            return cls._from_dict(data, base=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], *, base: Path) -> ServerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown keys {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = dict(data)
        for name in ("token_file", "audit_log"):
            if name in values:
                if not isinstance(values[name], str):
                    raise ConfigError(f"{name} must be a path string")
                values[name] = base / values[name]
        if "tools" in values:
            if not isinstance(values["tools"], list):
                raise ConfigError("tools must be a list of 'module:attribute' strings")
            values["tools"] = tuple(values["tools"])
        if "ceilings" in values:
            values["ceilings"] = _table(values["ceilings"], "ceilings", Limits)
        for name in ("execution_rate", "tool_call_rate"):
            if name in values:
                values[name] = _table(values[name], name, RateLimit)
        if "http_tools" in values:
            if not isinstance(values["http_tools"], list):
                raise ConfigError("http_tools must be an array of tables ([[http_tools]])")
            values["http_tools"] = tuple(_table(item, "http_tools", HttpTool) for item in values["http_tools"])
        return cls(**values)


def _table(value: object, name: str, kind: type[Any]) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in {name}; known: {sorted(known)}")
    try:
        return kind(**value)
    except InvalidLimits as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except TypeError as exc:  # a missing required key
        raise ConfigError(f"{name}: {exc}") from None
