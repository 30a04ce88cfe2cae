"""Admitting and running executions: the checks a request passes, then the run.

``admit`` turns a validated ``ExecutionRequest`` from an authenticated caller
into an ``Admitted`` run, or refuses it with an ``HTTPException``, in this
order: unknown tools and limits over the ceilings (422), code the sandbox
would refuse (422), the concurrency ceiling (429, ``reason: busy``), the
caller's execution rate (429, ``reason: rate_limited``). Only an admitted
request takes a slot; ``run`` gives it back whatever happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from runtime import ExecutionResult, InvalidCode, InvalidLimits, LimitExceeded, Limits, Sandbox
from runtime._outcome import check_code

from ._audit import AuditLog
from ._auth import Identity
from ._metrics import Metrics
from ._models import ExecutionRequest, LimitsOverride, response_dict
from ._rate_limit import RateLimiter
from ._responses import dumps
from ._shared import Slots

__all__ = ["Admitted", "Executions"]

BUSY_RETRY_AFTER = 1.0
"""Seconds a caller refused for the concurrency ceiling is told to wait."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Admitted:
    """A request that passed every check and holds a slot."""

    execution: str
    """A fresh id for this execution (audit lines and the ``X-Execution-Id`` header)."""
    identity: Identity
    code: str
    tools: tuple[str, ...]
    limits: Limits
    stream: bool
    arrived: float
    """``time.time()`` when it was admitted."""
    started: float
    """``time.monotonic()`` when it was admitted."""


def _invalid(loc: list[str | int], message: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": message, "type": kind}


class Executions:
    """Admits executions and runs them on the app's shared ``Sandbox``."""

    def __init__(
        self,
        *,
        ceilings: Limits,
        tool_names: frozenset[str],
        slots: Slots,
        rate_limiter: RateLimiter | None,
        metrics: Metrics,
    ) -> None:
        self.ceilings = ceilings
        self.tool_names = tool_names
        self.slots = slots
        """The concurrency ceiling (the server's, over all its worker processes)."""
        self.sandbox: Sandbox | None = None
        """The app's shared sandbox, while the app runs (set by its lifespan)."""
        self.audit: AuditLog | None = None
        """The audit log, while the app runs (when one is configured)."""
        # Ids are a random per-app prefix and a counter: unique without a
        # system call per request (os.urandom gives up the GIL on the event loop's thread).
        self._id_prefix = os.urandom(8).hex()
        self._ids = itertools.count(1)
        self._rate_limiter = rate_limiter
        self._metrics = metrics
        self._idle: asyncio.Event | None = None

    def limits_for(self, override: LimitsOverride | None) -> Limits:
        """The ceilings with ``override`` applied. Raises ``HTTPException`` (422)
        naming each field over its ceiling."""
        if override is None:
            return self.ceilings
        changes = override.model_dump(exclude_none=True)
        problems = []
        for name, value in changes.items():
            ceiling = getattr(self.ceilings, name)
            if ceiling is not None and value > ceiling:
                message = f"limits.{name}={value} is over the server's ceiling {ceiling}"
                problems.append(_invalid(["limits", name], message, "over_ceiling"))
        if problems:
            raise HTTPException(422, detail=problems)
        try:
            return dataclasses.replace(self.ceilings, **changes)
        except InvalidLimits as exc:
            raise HTTPException(422, detail=[_invalid(["limits", exc.field], str(exc), "invalid_limit")]) from None

    def admit(self, identity: Identity, request: ExecutionRequest, *, stream: bool) -> Admitted:
        """Check ``request`` and take a slot for it. Raises ``HTTPException``:
        422 for unknown tools, limits over the ceilings or unacceptable code;
        429 (``Retry-After``) when the server is full or the caller over its rate."""
        arrived = time.time()
        unknown = [
            _invalid(["tools", i], f"no tool named {name[:100]!r} on this server (GET /v1/tools)", "unknown_tool")
            for i, name in enumerate(request.tools)
            if name not in self.tool_names
        ]
        try:
            if unknown:
                raise HTTPException(422, detail=unknown[:20])
            limits = self.limits_for(request.limits)
            try:
                check_code(request.code, limits)
            except InvalidCode as exc:
                raise HTTPException(422, detail=[_invalid(["code"], str(exc), "invalid_code")]) from None
        except HTTPException:
            self._rejected(identity, request, stream, "invalid", arrived)
            raise
        if not self.slots.take():
            self._rejected(identity, request, stream, "busy", arrived)
            raise self._too_many(
                "busy", BUSY_RETRY_AFTER, f"the server is running {self.slots.ceiling} executions; retry shortly"
            )
        if self._rate_limiter is not None:
            wait = self._rate_limiter.acquire(identity.name)
            if wait:
                self.slots.give_back()
                self._rejected(identity, request, stream, "rate_limited", arrived)
                limit = self._rate_limiter.limit
                detail = f"execution rate limit reached ({limit.per_second:g}/s, burst {limit.burst})"
                raise self._too_many("rate_limited", wait, detail)
        return Admitted(
            execution=self._new_id(),
            identity=identity,
            code=request.code,
            tools=tuple(dict.fromkeys(request.tools)),
            limits=limits,
            stream=stream,
            arrived=arrived,
            started=time.monotonic(),
        )

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):016x}"

    def _too_many(self, reason: str, wait: float, detail: str) -> HTTPException:
        self._metrics.rejection(reason)
        body = {"detail": f"{detail}; retry in {wait:.2f} s", "reason": reason, "retry_after": round(wait, 3)}
        # Retry-After takes whole seconds: round up, so a client that obeys it is not refused again.
        return HTTPException(429, detail=body, headers={"Retry-After": str(max(1, math.ceil(wait)))})

    def _rejected(self, identity: Identity, request: ExecutionRequest, stream: bool, reason: str, at: float) -> None:
        if reason == "invalid":
            self._metrics.rejection(reason)
        if self.audit is not None:
            tools = [name[:200] for name in request.tools[:100]]  # a refused request's names are hostile
            self.audit.execution(
                execution=self._new_id(),
                identity=identity.name,
                code=request.code,
                tools=tools,
                stream=stream,
                outcome="rejected",
                error=reason,
                at=at,
            )

    async def run(
        self, admitted: Admitted, on_output: Callable[[str, str], object] | None = None
    ) -> tuple[ExecutionResult, bytes]:
        """Run ``admitted``; (its result, the response body). Gives its slot back
        whatever happens; cancelling the caller stops the guest."""
        sandbox = self.sandbox
        run_started = time.time()
        try:
            if sandbox is None:
                raise RuntimeError("the sandbox is not running (startup has not finished, or shutdown has)")
            try:
                result = await sandbox.arun(
                    admitted.code,
                    limits=admitted.limits,
                    context=admitted.identity,
                    only_tools=admitted.tools,
                    on_output=on_output,
                )
            except asyncio.CancelledError:
                self._finished(admitted, "Cancelled", None, 0, 0)
                raise
            body = dumps(response_dict(result))
            self._metrics.execution(result, time.monotonic() - admitted.started)
            error = result.error
            outcome = "ok" if error is None else type(error).__name__
            limit = error.limit if isinstance(error, LimitExceeded) else None
            self._finished(admitted, outcome, limit, len(result.tool_calls), len(body))
            if self.audit is not None and result.tool_calls:
                self.audit.tool_calls(
                    execution=admitted.execution,
                    identity=admitted.identity.name,
                    code=admitted.code,
                    calls=result.tool_calls,
                    at=run_started,
                )
            return result, body
        finally:
            # Last: a shutdown waiting for the slots (drain) must find the run recorded.
            self._release()

    def _finished(self, admitted: Admitted, outcome: str, limit: str | None, calls: int, size: int) -> None:
        if self.audit is None:
            return
        self.audit.execution(
            execution=admitted.execution,
            identity=admitted.identity.name,
            code=admitted.code,
            tools=admitted.tools,
            stream=admitted.stream,
            outcome=outcome,
            error=None if outcome == "ok" else outcome,
            limit=limit,
            duration=time.monotonic() - admitted.started,
            tool_calls=calls,
            result_bytes=size,
            at=admitted.arrived,
        )

    @property
    def in_flight(self) -> int:
        """Executions this process admitted that have not finished."""
        return self.slots.mine

    def _release(self) -> None:
        self.slots.give_back()
        if self.slots.mine == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every execution this process admitted
        to finish; True if they did."""
        if self.slots.mine == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
