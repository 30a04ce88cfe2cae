"""Tools rendered as Python stubs: what a model reads before writing a code action.

A stub is the signature the script calls (``help()`` in the guest shows the
same one), the docstring with per-parameter docs, and the result's shape
spelled out from its JSON Schema (the script gets JSON values: dicts and
lists, not the host's classes). Namespaced tools are grouped under a class
named after the namespace, so ``crm.list_candidates(...)`` reads naturally.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from host_functions import Tool

__all__ = ["python_stub", "python_stubs", "result_shape"]

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_PLAIN_NAMES = frozenset({"str", "int", "float", "bool", "None", "list", "dict", "tuple", "set", "Any", "Literal"})

_MAX_SHAPE = 400
"""Characters of a result shape before it is cut (deep models stay readable)."""


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return target
    return schema


def _shape(schema: Any, defs: dict[str, Any], depth: int) -> str:
    if not isinstance(schema, dict):
        return "Any"
    schema = _resolve(schema, defs)
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_shape(option, defs, depth) for option in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{_shape(schema.get('items'), defs, depth)}]"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            values = schema.get("additionalProperties")
            return f"dict[str, {_shape(values, defs, depth)}]" if isinstance(values, dict) else "dict"
        if depth >= 3:
            return "{...}"
        fields = ", ".join(f"{json.dumps(name)}: {_shape(sub, defs, depth + 1)}" for name, sub in properties.items())
        return "{" + fields + "}"
    names = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
    if isinstance(kind, str):
        if kind == "string" and schema.get("format") in ("date-time", "date", "time", "uuid"):
            return f"str ({schema['format']})"
        return names.get(kind, kind)
    return "Any"


def result_shape(schema: dict[str, Any] | None) -> str | None:
    """The JSON shape of a result schema, e.g. ``list[{"id": int, "tags": list[str]}]``."""
    if schema is None:
        return None
    defs = schema.get("$defs", {})
    shape = _shape(schema, defs if isinstance(defs, dict) else {}, 0)
    return shape if len(shape) <= _MAX_SHAPE else shape[: _MAX_SHAPE - 5] + " ...}"


def _annotation(param: dict[str, Any], schema: Any, defs: dict[str, Any]) -> str:
    # The host's class names (an enum, a model) mean nothing to the model:
    # spell those parameters out from their JSON Schema instead.
    text: str = param["annotation"]
    if not text or set(_IDENTIFIER.findall(text)) <= _PLAIN_NAMES:
        return text
    return _shape(schema, defs, 1)


def _signature(tool: Tool) -> str:
    params = tool.schema.guest_signature["params"]
    properties = tool.parameters.get("properties", {})
    defs = tool.parameters.get("$defs", {})
    parts: list[str] = []
    starred = False
    for index, param in enumerate(params):
        if param["kind"] == "keyword_only" and not starred:
            parts.append("*")
            starred = True
        annotation = _annotation(param, properties.get(param["name"]), defs)
        text = param["name"] + (f": {annotation}" if annotation else "")
        if "default" in param:
            text += f" = {param['default']!r}"
        elif "default_repr" in param:
            text += f" = {param['default_repr']}"
        parts.append(text)
        following = params[index + 1]["kind"] if index + 1 < len(params) else None
        if param["kind"] == "positional_only" and following != "positional_only":
            parts.append("/")
    returns = tool.schema.guest_signature["returns"] or "Any"
    return f"({', '.join(parts)}) -> {returns}"


def python_stub(tool: Tool, *, indent: str = "") -> str:
    """One tool as ``def name(...) -> T:`` with its docstring (the part of
    the name after the last dot when the tool is namespaced)."""
    doc = tool.description or "(no description)"
    properties = tool.parameters.get("properties", {})
    documented = [f"    {name}: {prop['description']}" for name, prop in properties.items() if prop.get("description")]
    if documented:
        doc += "\n\nArgs:\n" + "\n".join(documented)
    shape = result_shape(tool.returns)
    if shape is not None and shape != "None":
        doc += f"\n\nReturns JSON: {shape}"
    body = textwrap.indent('"""' + doc.replace('"""', "'''") + '"""', "    ")
    short = tool.name.rsplit(".", 1)[-1]
    return textwrap.indent(f"def {short}{_signature(tool)}:\n{body}", indent)


def python_stubs(tools: Iterable[Tool]) -> str:
    """Stubs for several tools: top-level ones first, then one class per namespace."""
    plain: list[str] = []
    spaces: dict[str, list[str]] = {}
    for tool in tools:
        if "." in tool.name:
            space = tool.name.rsplit(".", 1)[0]
            spaces.setdefault(space, []).append(python_stub(tool, indent="    "))
        else:
            plain.append(python_stub(tool))
    blocks = plain + [
        f"class {space}:  # namespace: call {space}.<name>(...)\n" + "\n\n".join(members)
        for space, members in spaces.items()
    ]
    return "\n\n".join(blocks)
