"""The host-side world the corpus attacks: canaries, listeners, secret-holding tools.

* a directory (also the host's working directory) holding a canary file with
  known content and mtime, a canary directory, and a planted Python module;
* loopback TCP and UDP sockets that count what reaches them (read without
  blocking: on loopback a completed connect or a sent datagram is queued
  before the guest's call returns, so no waiting is needed);
* canary secrets in the host's environment, in a tool's closure (its API
  token) and in ``ToolContext.deps``;
* tools, one of which (``admin_write``) is never granted to the corpus runs
  and overwrites the canary when called with ``MAGIC``: reaching it would
  show as a changed file.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from host_functions import Tool, ToolContext, ToolSet, tool
from runtime import Limits

__all__ = [
    "ENV_NAMES",
    "GRANTED",
    "LIMITS",
    "MAGIC",
    "MODULE",
    "ROOMY",
    "Account",
    "Listeners",
    "Secrets",
    "make_tools",
    "plant_canaries",
    "restore_canary",
    "snapshot",
]

LIMITS = Limits(
    timeout=1.0,
    memory_mb=64,
    max_output_bytes=50_000,
    tool_timeout=0.3,
    max_tool_calls=2_000,
    max_concurrent_tool_calls=16,
    max_tool_payload_bytes=200_000,
    max_tool_result_bytes=1_000_000,
)
"""The corpus runs' limits: small, so breaches come fast."""
ROOMY = replace(LIMITS, timeout=5.0)
"""For attacks whose (contained) work takes a loaded machine more than a second."""
MAGIC = "OVERWRITE-THE-CANARY"
"""The argument that makes ``admin_write`` act (attacks know it; they lack the grant)."""
ENV_NAMES = ("OTC_CORPUS_API_KEY", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY")
MODULE = "planted_settings"
"""A module planted in the canary directory; importing it would expose ``Secrets.module``."""
GRANTED = ("echo", "echo_async", "fetch", "whoami", "slow", "slow_async", "spin", "blob")
"""Every tool but ``admin_write``: the corpus runs' ``only_tools``."""
CANARY_MTIME_NS = 1_000_000_000
SLOW_CAP = 2.0
"""Seconds a hung corpus tool really blocks: enough to outlast every tool_timeout, short enough to settle."""


@dataclass(frozen=True)
class Secrets:
    """Values no guest may ever see (random per test session)."""

    env: tuple[str, ...] = field(default_factory=lambda: tuple(_secret("env") for _ in ENV_NAMES))
    tool_token: str = field(default_factory=lambda: _secret("tool-token"))
    deps_token: str = field(default_factory=lambda: _secret("deps-token"))
    file: str = field(default_factory=lambda: _secret("file"))
    module: str = field(default_factory=lambda: _secret("module"))

    def all(self) -> tuple[str, ...]:
        return (*self.env, self.tool_token, self.deps_token, self.file, self.module)


def _secret(kind: str) -> str:
    return f"canary-{kind}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Account:
    """The ``ToolContext.deps`` of the corpus runs."""

    user: str
    token: str


def plant_canaries(root: Path, secrets: Secrets) -> dict[str, object]:
    """Create the canary files under ``root``; the template values attacks use."""
    canary = root / "canary.txt"
    canary.write_text(secrets.file)
    (root / "canary_dir").mkdir()
    (root / "canary_dir" / "inner.txt").write_text(secrets.file)
    (root / f"{MODULE}.py").write_text(f"SECRET = {secrets.module!r}\n")
    os.utime(canary, ns=(CANARY_MTIME_NS, CANARY_MTIME_NS))
    return {
        "CANARY": repr(str(canary)),
        "CANARY_DIR": repr(str(root / "canary_dir")),
        "ROOT": repr(str(root)),
        "REL": repr("../" * 30 + str(canary).lstrip("/")),
        "MAGIC": repr(MAGIC),
        "MODULE": MODULE,
        "ENV_NAMES": repr(list(ENV_NAMES)),
    }


def restore_canary(root: Path, secrets: Secrets) -> None:
    """Undo a (positive-control) overwrite of the canary file."""
    canary = root / "canary.txt"
    canary.write_text(secrets.file)
    os.utime(canary, ns=(CANARY_MTIME_NS, CANARY_MTIME_NS))


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under ``root``: mode, mtime and (for regular files) content."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        state[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, content)
    return state


class Listeners:
    """Loopback TCP and UDP sockets that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.tcp_port: int = self.tcp.getsockname()[1]
        self.udp_port: int = self.udp.getsockname()[1]

    def drain(self) -> tuple[int, int]:
        """(connections, datagrams) received since the last drain."""
        connections = datagrams = 0
        while True:
            try:
                conn, _ = self.tcp.accept()
            except BlockingIOError:
                break
            conn.close()
            connections += 1
        while True:
            try:
                self.udp.recvfrom(65536)
            except BlockingIOError:
                break
            datagrams += 1
        return connections, datagrams

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


def make_tools(canary: Path, secrets: Secrets) -> ToolSet:
    """The corpus sandbox's tools (``GRANTED`` plus the withheld ``admin_write``)."""
    token = secrets.tool_token  # held only by fetch's closure

    @tool
    def echo(value: Any) -> Any:
        """Return the value unchanged."""
        return value

    @tool
    async def echo_async(value: Any) -> Any:
        """Return the value unchanged, from the event loop."""
        await asyncio.sleep(0)
        return value

    @tool
    def fetch(url: str) -> dict[str, object]:
        """GET a URL of the example API, authenticated with the application's token."""
        headers = {"Authorization": f"Bearer {token}"}
        if not url.startswith("https://api.example.com/"):
            # An unexpected exception whose message holds the token: only its type may cross.
            raise ValueError(f"refusing {url!r}: would send {headers}")
        return {"url": url, "status": 200}

    @tool
    def whoami(ctx: ToolContext[Account]) -> str:
        """The user the run is for."""
        return ctx.deps.user

    @tool
    def slow(seconds: float) -> float:
        """Block a tool thread (a hung backend)."""
        time.sleep(min(max(seconds, 0.0), SLOW_CAP))
        return seconds

    @tool
    async def slow_async(seconds: float) -> float:
        """Wait on the event loop (a hung async backend)."""
        await asyncio.sleep(min(max(seconds, 0.0), SLOW_CAP))
        return seconds

    @tool
    def spin(seconds: float) -> int:
        """Burn host CPU (a busy wait inside a host call)."""
        end, n = time.monotonic() + min(max(seconds, 0.0), SLOW_CAP / 2), 0
        while time.monotonic() < end:
            n += 1
        return n

    @tool
    def blob(size: int) -> str:
        """A result of ``size`` characters."""
        return "x" * min(max(size, 0), 3_000_000)  # 3x the corpus cap; more only fattens glibc's thread arenas

    @tool
    def admin_write(text: str) -> str:
        """Never granted to corpus runs: overwrites the canary given the magic word."""
        if text == MAGIC:
            canary.write_text("overwritten by admin_write")
            return "written"
        return "refused"

    tools: list[Tool] = [echo, echo_async, fetch, whoami, slow, slow_async, spin, blob, admin_write]
    return ToolSet(tools)
