"""Python tools the test servers load by name (``server_tools:TOOLS``)."""

from __future__ import annotations

import asyncio
from typing import Any

from host_functions import ToolContext, ToolError, ToolSet, tool
from runtime.server import Identity

CALLS: list[str] = []
"""Names of the tools called, in order (tests read deltas)."""


@tool
def echo(x: Any) -> Any:
    """Return ``x`` unchanged.

    Args:
        x: Anything JSON.
    """
    CALLS.append("echo")
    return x


@tool
def whoami(ctx: ToolContext[Identity]) -> str:
    """The name of the caller the script runs for."""
    CALLS.append("whoami")
    return ctx.deps.name


@tool
async def nap(seconds: float) -> float:
    """Sleep on the host's event loop, then return ``seconds``.

    Args:
        seconds: How long to sleep.
    """
    CALLS.append("nap")
    await asyncio.sleep(seconds)
    return seconds


@tool
def weather(city: str) -> dict[str, Any]:
    """Current weather forecast for a city: temperature and conditions.

    Args:
        city: The city's name.
    """
    CALLS.append("weather")
    if not city:
        raise ToolError("city must not be empty")
    return {"city": city, "celsius": len(city) * 3}


TOOLS = ToolSet([echo, whoami, nap, weather])


def make_tools() -> ToolSet:
    """A factory, for the ``module:callable`` form of a tool source."""
    return ToolSet([echo], namespace="factory")
