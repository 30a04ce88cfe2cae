"""Example application tools for the meta-tool tests (direct, deferred and code-only)."""

from __future__ import annotations

import asyncio

from host_functions import ToolContext, ToolError, tool

SENT: list[tuple[str, str]] = []
"""What ``send_email`` was asked to send (the deferred tools' observable effect)."""


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email message to an address.

    Args:
        to: The recipient's email address.
        subject: The subject line.
    """
    SENT.append((to, subject))
    return f"sent to {to}"


@tool
def refund_order(order_id: int, reason: str) -> dict[str, object]:
    """Refund a customer's order and record why.

    Args:
        order_id: The order to refund.
        reason: Why it is refunded.
    """
    if order_id < 0:
        raise ToolError(f"order {order_id} does not exist")
    return {"order_id": order_id, "refunded": True}


@tool
async def get_weather(city: str) -> dict[str, object]:
    """Current weather forecast for a city.

    Args:
        city: The city's name.
    """
    await asyncio.sleep(0.01)
    return {"city": city, "temperature": 21}


@tool
def whoami(ctx: ToolContext[str]) -> str:
    """The name of the user the agent works for."""
    return ctx.deps
