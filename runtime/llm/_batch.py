"""The batch meta-tool: many tool calls in one model request, run concurrently.

Its parameter schema lists one item schema per tool (the tool's name as a
one-value enum and its own argument schema), so a provider that validates
tool arguments validates each call of the batch too. Shared ``$defs`` are
hoisted to the top of the schema, where ``$ref``s resolve. Results come back
in request order, each ``ok`` or ``error``: one failure sinks nothing else.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._host_calls import CallReply
from ._report import cut
from ._spec import ToolSpec, canonical_name

if TYPE_CHECKING:
    from host_functions import Tool

__all__ = ["BatchRequestError", "batch_spec", "format_batch", "parse_batch"]

_ANY_TOOL = {
    "type": "object",
    "description": "A tool found with tool search (its arguments are checked when it runs).",
    "properties": {"tool": {"type": "string"}, "arguments": {"type": "object"}},
    "required": ["tool", "arguments"],
}


class BatchRequestError(ValueError):
    """The model's batch request is malformed; ``str()`` says how to fix it."""


def _rewrite_refs(schema: Any, renames: dict[str, str]) -> Any:
    if isinstance(schema, dict):
        out = {key: _rewrite_refs(value, renames) for key, value in schema.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in renames:
            out["$ref"] = "#/$defs/" + renames[ref[8:]]
        return out
    if isinstance(schema, list):
        return [_rewrite_refs(item, renames) for item in schema]
    return schema


def _item_schema(tool: Tool, defs: dict[str, Any]) -> dict[str, Any]:
    arguments = copy.deepcopy(tool.parameters)
    renames = {}
    for name, definition in arguments.pop("$defs", {}).items():
        target = name
        if target in defs and defs[target] != definition:
            target = f"{tool.name.replace('.', '_')}__{name}"
        defs[target] = definition
        if target != name:
            renames[name] = target
    return {
        "type": "object",
        "properties": {"tool": {"type": "string", "enum": [tool.name]}, "arguments": _rewrite_refs(arguments, renames)},
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


def batch_spec(name: str, tools: Iterable[Tool], *, searchable: bool, max_calls: int) -> ToolSpec:
    """The batch tool's spec for ``tools``; ``searchable`` adds an item for
    tools found later with tool search (their schemas are not known yet)."""
    defs: dict[str, Any] = {}
    items = [_item_schema(tool, defs) for tool in tools]
    if searchable:
        items.append(_ANY_TOOL)
    calls: dict[str, Any] = {
        "type": "array",
        "minItems": 1,
        "maxItems": max_calls,
        "description": "The calls to make, all at once; results come back in this order.",
        "items": {"anyOf": items} if len(items) != 1 else items[0],
    }
    parameters: dict[str, Any] = {"type": "object", "properties": {"calls": calls}, "required": ["calls"]}
    if defs:
        parameters["$defs"] = defs
    description = (
        "Call several tools at once, concurrently: one request instead of one turn per call. "
        'Each call is {"tool": <name>, "arguments": {...}}. Results come back as a JSON list in the '
        'same order, each {"tool", "ok": <result>} or {"tool", "error": <why>}; a failed call does '
        "not stop the others. Use it for independent calls; for calls that depend on earlier results, "
        "or to filter and aggregate many results, write a script for the code tool instead."
    )
    return ToolSpec(name=name, description=description, parameters=parameters)


def parse_batch(arguments: str, *, max_calls: int) -> list[tuple[str, str]]:
    """(tool name, JSON arguments) for each call in a batch request.
    Raises ``BatchRequestError`` saying what is wrong and where."""
    try:
        request = json.loads(arguments)
    except (ValueError, RecursionError):
        message = 'the arguments are not JSON: send {"calls": [{"tool": ..., "arguments": {...}}]}'
        raise BatchRequestError(message) from None
    calls = request.get("calls") if isinstance(request, dict) else None
    if not isinstance(calls, list) or not calls:
        raise BatchRequestError('expected {"calls": [...]} with at least one call')
    if len(calls) > max_calls:
        raise BatchRequestError(f"{len(calls)} calls is more than the {max_calls} one batch may make; split it")
    parsed = []
    for index, call in enumerate(calls):
        tool = call.get("tool") if isinstance(call, dict) else None
        args = call.get("arguments", {}) if isinstance(call, dict) else None
        if isinstance(args, str):  # some models send the arguments as JSON text
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                args = None
        if not isinstance(tool, str) or not tool or not isinstance(args, dict):
            raise BatchRequestError(
                f'calls[{index}] must be {{"tool": <name>, "arguments": {{...}}}}, got {json.dumps(call)[:200]}'
            )
        parsed.append((canonical_name(tool), json.dumps(args)))
    return parsed


def format_batch(replies: Sequence[CallReply], *, budget: int) -> str:
    """The JSON list the model reads, in request order, within ``budget`` characters."""
    items = []
    for reply in replies:
        if reply.ok:
            items.append({"tool": reply.tool, "ok": reply.reply["ok"]})
        else:
            error = reply.reply.get("error", {})
            items.append({"tool": reply.tool, "error": error.get("message", "the call failed")})
    return cut(json.dumps(items, ensure_ascii=False), budget, what="batch results")
