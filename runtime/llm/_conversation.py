"""``Conversation``: one agent conversation's view of a ``Toolkit``.

Every request is first turned into a plan, with no I/O (``_plan``): an
immediate answer, a script to run, or tool calls to make. ``handle`` and
``ahandle`` are thin drivers that carry the plan out, synchronously or on
the caller's event loop, and turn what happened into a ``ToolResponse``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from host_functions import Tool, ToolSet
from runtime._result import ExecutionResult, ToolCall

from ._batch import BatchRequestError, batch_spec, format_batch, parse_batch
from ._code_action import CodeRequestError, code_action_spec, parse_code
from ._host_calls import CallReply, acall_tools, call_tools
from ._report import cut, report
from ._spec import ToolRequest, ToolResponse, ToolSpec
from ._tool_search import SearchRequestError, format_hits, parse_search, run_search, search_spec

if TYPE_CHECKING:
    from ._toolkit import Toolkit

__all__ = ["Conversation", "Handled"]


@dataclass(frozen=True, slots=True)
class _Answer:
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class _RunCode:
    code: str
    only_tools: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _CallTools:
    tools: ToolSet
    calls: list[tuple[str, str]]
    batch: bool


_Plan = _Answer | _RunCode | _CallTools


@dataclass(frozen=True, kw_only=True, slots=True)
class Handled:
    """One answered request, with what the host saw of it (``Conversation.handled``)."""

    request: ToolRequest
    response: ToolResponse
    execution: ExecutionResult | None = None
    """The code action's full result (output uncut, error, call log), if it was one."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Every tool call it made, with the host-only detail of failures."""


class Conversation:
    """The meta-tools for one conversation; made by ``Toolkit.conversation()``.

    ``specs()`` is the tool list to send to the model; it never changes during
    the conversation (tools found by search become callable without being
    added to it, so the provider's prompt cache stays valid).
    """

    def __init__(self, toolkit: Toolkit) -> None:
        self.toolkit = toolkit
        self._found: dict[str, None] = {}  # ordered set of tools found by search
        self.handled: list[Handled] = []
        """Every request answered so far, in order, for the application's logs
        (what the model got back is only ``response``)."""
        self._lock = threading.Lock()
        self._specs = self._make_specs()

    @property
    def discovered(self) -> tuple[str, ...]:
        """Deferred tools this conversation has found with search, in order found."""
        with self._lock:
            return tuple(self._found)

    def specs(self) -> list[ToolSpec]:
        """The tools to list for the model: the meta-tools and the direct tools."""
        return list(self._specs)

    def _make_specs(self) -> list[ToolSpec]:
        kit = self.toolkit
        specs = [ToolSpec.from_tool(tool) for tool in kit.direct]
        search = kit.search_tool if kit.index is not None else None
        if kit.code_action:
            stubs = [*kit.direct, *kit.code_only]
            specs.insert(
                0,
                code_action_spec(kit.code_tool, stubs, limits=kit.limits, budget=kit.output_budget, search_tool=search),
            )
        if kit.batch:
            batch = batch_spec(
                kit.batch_tool, kit.direct, searchable=search is not None, max_calls=kit.limits.max_tool_calls
            )
            specs.insert(1 if kit.code_action else 0, batch)
        if search is not None:
            callers = [name for name, on in ((kit.code_tool, kit.code_action), (kit.batch_tool, kit.batch)) if on]
            specs.append(search_spec(search, hidden=len(kit.deferred), callers=callers))
        return specs

    # --- planning: no I/O --------------------------------------------------------------

    def _callable(self, *, code: bool) -> list[Tool]:
        kit = self.toolkit
        found = [tool for name in self.discovered if (tool := kit.deferred.get(name)) is not None]
        return [*kit.direct, *(kit.code_only if code else ()), *found]

    def _plan(self, request: ToolRequest) -> _Plan:
        kit = self.toolkit
        try:
            if request.name == kit.code_tool and kit.code_action:
                names = tuple(tool.name for tool in self._callable(code=True))
                return _RunCode(parse_code(request.arguments), names)
            if request.name == kit.batch_tool and kit.batch:
                calls = parse_batch(request.arguments, max_calls=kit.limits.max_tool_calls)
                return _CallTools(ToolSet(self._callable(code=False)), calls, batch=True)
            if request.name == kit.search_tool and kit.index is not None:
                return self._search(request.arguments)
        except (CodeRequestError, BatchRequestError, SearchRequestError) as exc:
            return _Answer(f"Invalid {request.name} request: {exc}", is_error=True)
        allowed = ToolSet(self._callable(code=False))
        if request.name in allowed:
            return _CallTools(allowed, [(request.name, request.arguments)], batch=False)
        listed = ", ".join(spec.name for spec in self._specs)
        hint = f"; {kit.search_tool} finds more" if kit.index is not None else ""
        return _Answer(f"There is no tool {request.name[:100]!r} to call. Available: {listed}{hint}.", is_error=True)

    def _search(self, arguments: str) -> _Answer:
        kit = self.toolkit
        assert kit.index is not None
        request = parse_search(arguments)
        hits = [tool for hit in run_search(kit.index, request) if (tool := kit.deferred.get(hit.name)) is not None]
        with self._lock:
            self._found.update(dict.fromkeys(tool.name for tool in hits))
        return _Answer(cut(format_hits(request, hits), kit.output_budget, what="search results"))

    def _code_response(self, result: ExecutionResult) -> _Answer:
        return _Answer(report(result, budget=self.toolkit.output_budget), is_error=not result.ok)

    def _calls_response(self, plan: _CallTools, replies: list[CallReply]) -> _Answer:
        budget = self.toolkit.output_budget
        if plan.batch:
            return _Answer(format_batch(replies, budget=budget), is_error=not any(reply.ok for reply in replies))
        reply = replies[0]
        if reply.ok:
            return _Answer(cut(json.dumps(reply.reply["ok"], ensure_ascii=False), budget, what="the result"))
        return _Answer(str(reply.reply.get("error", {}).get("message", "the call failed")), is_error=True)

    def _response(
        self,
        request: ToolRequest,
        answer: _Answer,
        data: Any = None,
        *,
        execution: ExecutionResult | None = None,
        calls: tuple[ToolCall, ...] = (),
    ) -> ToolResponse:
        response = ToolResponse(
            id=request.id, name=request.name, content=answer.content, is_error=answer.is_error, data=data
        )
        tool_calls = execution.tool_calls if execution is not None else calls
        with self._lock:
            self.handled.append(Handled(request=request, response=response, execution=execution, tool_calls=tool_calls))
        return response

    # --- drivers -----------------------------------------------------------------------

    def handle(self, request: ToolRequest, *, context: Any = None) -> ToolResponse:
        """Answer one tool request from the model. ``context`` reaches tools as
        ``ToolContext.deps`` (never the sandbox). Failures are answers with
        ``is_error`` set, never exceptions."""
        plan = self._plan(request)
        kit = self.toolkit
        if isinstance(plan, _RunCode):
            assert kit.sandbox is not None
            result = kit.sandbox.run(plan.code, context=context, only_tools=plan.only_tools)
            return self._response(request, self._code_response(result), execution=result)
        if isinstance(plan, _CallTools):
            replies, log = call_tools(plan.tools, plan.calls, limits=kit.limits, context=context)
            return self._response(request, self._calls_response(plan, replies), _data(plan, replies), calls=log)
        return self._response(request, plan)

    async def ahandle(self, request: ToolRequest, *, context: Any = None) -> ToolResponse:
        """``handle`` for asyncio: async tools run on the caller's event loop."""
        plan = self._plan(request)
        kit = self.toolkit
        if isinstance(plan, _RunCode):
            assert kit.sandbox is not None
            result = await kit.sandbox.arun(plan.code, context=context, only_tools=plan.only_tools)
            return self._response(request, self._code_response(result), execution=result)
        if isinstance(plan, _CallTools):
            replies, log = await acall_tools(plan.tools, plan.calls, limits=kit.limits, context=context)
            return self._response(request, self._calls_response(plan, replies), _data(plan, replies), calls=log)
        return self._response(request, plan)

    def handle_all(self, requests: Sequence[ToolRequest], *, context: Any = None) -> list[ToolResponse]:
        """Answer every request of one model turn, in order."""
        return [self.handle(request, context=context) for request in requests]

    async def ahandle_all(self, requests: Sequence[ToolRequest], *, context: Any = None) -> list[ToolResponse]:
        """Answer every request of one model turn concurrently; results in order."""
        return list(await asyncio.gather(*(self.ahandle(request, context=context) for request in requests)))


def _data(plan: _CallTools, replies: list[CallReply]) -> Any:
    # A direct call's structured result (MCP's structuredContent); none for a batch.
    if plan.batch or not replies[0].ok:
        return None
    return replies[0].reply["ok"]
