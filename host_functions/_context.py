"""Per-run context handed to tools, never to the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["ToolContext"]

DepsT = TypeVar("DepsT")


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolContext(Generic[DepsT]):
    """What a tool learns about the run that called it.

    A tool receives it by declaring a parameter annotated ``ToolContext``
    (that parameter is left out of the tool's schema and signature)::

        @tool
        def my_orders(ctx: ToolContext[User], status: str) -> list[Order]:
            return db.orders(owner=ctx.deps.id, status=status)

        sandbox.run(code, context=current_user)

    The context stays on the host: nothing in it is ever sent to the guest.
    """

    deps: DepsT
    """What the application passed as ``run(..., context=...)``."""

    tool: str
    """The name of the tool being called."""

    call_id: int
    """The call's id, unique within the run (matches the call log)."""
